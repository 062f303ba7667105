package rpc

import "testing"

// FuzzParseRequest reads a message the way a handler does: every argument
// its call's signature names, by kind. It must never panic.
func FuzzParseRequest(f *testing.F) {
	f.Add(msg(CallGetInfo, ""))
	f.Add(msg(CallInitialize, "ayyay", []byte{1}, putBytes(nil, []byte("PRIVATE-GNOME-KEYRING-PKCS11-PROTOCOL-V-1")), []byte{0}, []byte{0}))
	f.Add(msg(CallFindObjectsInit, "uaA", u64(1), u32(1), u32(0), []byte{1}, u32(8), u64(3)))
	f.Add(msg(CallSignInit, "uMu", u64(1), u32(0x0d), u64(0x250), u64(2), u64(32), u64(5)))
	f.Add(msg(CallGetAttributeValue, "uufA", u64(1), u64(2), u32(1), u32(3), u32(0)))
	f.Add(msg(CallDeriveKey, "uMuaA", u64(1), u32(0x1050), u64(1), u32(noData), u32(2), []byte{4, 1}, u64(9), u32(0)))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRequest(b)
		if err != nil {
			return
		}
		readAll(r, r.Call.RequestSignature())
		r.Done()
	})
}

// readAll reads the arguments of sig in order.
func readAll(r *Request, sig string) {
	for i := 0; i < len(sig); i++ {
		switch sig[i] {
		case 'y':
			r.Byte()
		case 'u':
			r.Ulong()
		case 'z':
			r.Text()
		case 'M':
			r.Mechanism()
		case 'a':
			i++
			switch sig[i] {
			case 'y':
				r.ByteArray()
			case 'A':
				r.Attributes()
			}
		case 'f':
			i++
			switch sig[i] {
			case 'y':
				r.ByteBuffer()
			case 'u':
				r.UlongBuffer()
			case 'A':
				r.AttrBuffer()
			}
		}
	}
}
