package protocol

// A server can put an AEAD response's data (the ciphertext or plaintext,
// the last item of its encoding) straight where the response frame holds
// it, then encode the frame around it with AppendResponse into the same
// buffer: the encoder sees the bytes already in place and does not copy
// them. For a megabyte message that saves a copy and, for a plaintext, a
// second buffer to clear.

// AEADEncryptResponseLayout is the frame size of an AEADEncryptResponse
// of version with a ciphertext of n bytes, and the offset of the
// ciphertext in the frame.
func AEADEncryptResponseLayout(version uint32, n int) (size, off int) {
	size = LengthPrefixSize + ResponseHeaderSize + (&AEADEncryptResponse{Version: version}).cborSize() - strSize(0) + strSize(n)
	return size, size - n
}

// AEADDecryptResponseLayout is AEADEncryptResponseLayout for an
// AEADDecryptResponse with alias, version and a plaintext of n bytes.
func AEADDecryptResponseLayout(alias string, version uint32, n int) (size, off int) {
	size = LengthPrefixSize + ResponseHeaderSize + (&AEADDecryptResponse{Alias: alias, Version: version}).cborSize() - strSize(0) + strSize(n)
	return size, size - n
}
