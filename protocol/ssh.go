package protocol

// The ssh-agent operations (docs/PROTOCOL.md §6.29–6.32): what the ssh-agent
// front end (agent/sshagent) and `tpmkey ssh` need of the core. A key is
// offered to ssh only while it is marked (SSHKey "enable"); the agent lock
// and the cached PIN authorizations are the core's, per uid.
const (
	OpSSHKey   Op = 48
	OpSSHList  Op = 49
	OpSSHSign  Op = 50
	OpSSHAgent Op = 51
)

// SSHKey actions.
const (
	SSHEnable  = "enable"  // mark the key for ssh (comment, not_after, certificate)
	SSHDisable = "disable" // remove the marking; the key stays
	SSHUnlock  = "unlock"  // cache the PIN's authorization for seconds
	SSHForget  = "forget"  // drop a cached authorization
)

// SSHAgent actions.
const (
	SSHAgentLock   = "lock"   // ssh-add -x: every ssh request of the uid fails but unlock
	SSHAgentUnlock = "unlock" // ssh-add -X, with the lock's passphrase
	SSHAgentCheck  = "check"  // fails while locked (session-bind@openssh.com asks it)
)

// SSH signature algorithms (RFC 4253, RFC 8332, RFC 5656 names).
const (
	SSHAlgECDSAP256 = "ecdsa-sha2-nistp256"
	SSHAlgECDSAP384 = "ecdsa-sha2-nistp384"
	SSHAlgRSASHA256 = "rsa-sha2-256"
	SSHAlgRSASHA512 = "rsa-sha2-512"
	SSHAlgRSASHA1   = "ssh-rsa" // SHA-1: refused unless ssh_allow_sha1
)

// SSHInfo is a key's ssh marking, in KeyInfo.
type SSHInfo struct {
	Comment     string `cbor:"comment,omitempty"`     // "": the alias
	NotAfter    int64  `cbor:"not_after,omitempty"`   // Unix seconds; 0: no end
	Certificate []byte `cbor:"certificate,omitempty"` // OpenSSH certificate, wire format
	// UnlockedUntil is when the cached PIN authorization ends (SSHList
	// and SSHKey only; 0: none cached).
	UnlockedUntil int64 `cbor:"unlocked_until,omitempty"`
	// Destinations are the key's destination constraints (ssh-add -h);
	// none: the key is unconstrained.
	Destinations []SSHDestination `cbor:"destinations,omitempty"`
	// Confirm: every signature is confirmed first (ssh-add -c).
	Confirm bool `cbor:"confirm,omitempty"`
}

// SSHDestination is one permitted hop of a destination-constrained key
// (OpenSSH's restrict-destination-v00@openssh.com): from a host (no host
// and no keys: the origin, the machine the agent runs on) to a host, as a
// user. A host is named by its host keys (SSH wire format) and by CA keys
// whose host certificates for the host's name are accepted.
type SSHDestination struct {
	FromHost   string   `cbor:"from_host,omitempty"`
	FromKeys   [][]byte `cbor:"from_keys,omitempty"`
	FromCAKeys [][]byte `cbor:"from_ca_keys,omitempty"`
	// ToUser is a pattern (* and ?) of the remote user; "": any.
	ToUser   string   `cbor:"to_user,omitempty"`
	ToHost   string   `cbor:"to_host"`
	ToKeys   [][]byte `cbor:"to_keys,omitempty"`
	ToCAKeys [][]byte `cbor:"to_ca_keys,omitempty"`
}

// SSHBind is one verified session-bind@openssh.com of the ssh-agent
// connection a request comes through, in the order they came: the host
// key (SSH wire format) that signed the session id, and whether the
// binding is for agent forwarding.
type SSHBind struct {
	HostKey   []byte `cbor:"host_key"`
	SessionID []byte `cbor:"session_id"`
	Forwarded bool   `cbor:"forwarded,omitempty"`
}

// SSHConnection is what an ssh-agent front end knows of its connection:
// the bindings it verified, and whether a binding was tried and failed.
// Destination-constrained keys are listed and used by it alone.
type SSHConnection struct {
	Binds      []SSHBind `cbor:"binds,omitempty"`
	BindFailed bool      `cbor:"bind_failed,omitempty"`
}

// SSHKeyRequest changes a key's ssh state: Action is one of SSHEnable,
// SSHDisable, SSHUnlock, SSHForget.
type SSHKeyRequest struct {
	Alias       string `cbor:"alias"`
	Action      string `cbor:"action"`
	Comment     string `cbor:"comment,omitempty"`     // enable
	NotAfter    int64  `cbor:"not_after,omitempty"`   // enable: Unix seconds; 0: none
	Certificate []byte `cbor:"certificate,omitempty"` // enable
	PIN         []byte `cbor:"pin,omitempty"`         // unlock
	Seconds     uint32 `cbor:"seconds,omitempty"`     // unlock: how long; 0: 15 minutes
	// Destinations constrain where the key is used (enable); none: anywhere.
	Destinations []SSHDestination `cbor:"destinations,omitempty"`
	// Confirm asks for a confirmation of each signature (enable; ssh-add
	// -c), by the server's ssh_askpass program.
	Confirm bool `cbor:"confirm,omitempty"`
}

type SSHKeyResponse struct {
	Key KeyInfo `cbor:"key"`
}

// SSHListRequest lists the caller's keys marked for ssh whose marking has
// not ended, a page at a time (as ListKeys).
type SSHListRequest struct {
	Cursor string `cbor:"cursor,omitempty"`
	Limit  uint32 `cbor:"limit,omitempty"`
	// Connection is the ssh-agent connection listed through; absent: a
	// connection with no bindings.
	Connection *SSHConnection `cbor:"connection,omitempty"`
}

type SSHListResponse struct {
	Keys       []KeyInfo `cbor:"keys"`
	NextCursor string    `cbor:"next_cursor,omitempty"`
}

// SSHSignRequest signs data (the ssh session's to-be-signed blob, or
// anything an ssh client sends) with a marked key, under an ssh signature
// algorithm; the signature is ASN.1 DER (ECDSA) or PKCS #1 v1.5 (RSA), as
// Sign returns it.
type SSHSignRequest struct {
	Alias     string `cbor:"alias"`
	Algorithm string `cbor:"algorithm"`
	Data      []byte `cbor:"data"`
	// KeyID, when given, must be the key's id: a front end that found the
	// alias by its public key never signs with another key under it.
	KeyID []byte `cbor:"key_id,omitempty"`
	// Connection is the ssh-agent connection the request came through;
	// absent: a connection with no bindings.
	Connection *SSHConnection `cbor:"connection,omitempty"`
}

type SSHSignResponse struct {
	Signature []byte `cbor:"signature"`
}

// SSHAgentRequest locks or unlocks the caller's ssh agent, or checks it is
// unlocked.
type SSHAgentRequest struct {
	Action     string `cbor:"action"`
	Passphrase []byte `cbor:"passphrase,omitempty"`
	// Confirm (check): fail too when the server cannot confirm signatures
	// (no ssh_askpass), before a key is imported for ssh-add -c.
	Confirm bool `cbor:"confirm,omitempty"`
}

type SSHAgentResponse struct {
	Locked bool `cbor:"locked"`
}

func (r *SSHKeyRequest) KeyAlias() string       { return r.Alias }
func (r *SSHKeyRequest) KeyNamespace() *uint32  { return nil }
func (r *SSHKeyRequest) KeyPIN() []byte         { return r.PIN }
func (r *SSHKeyRequest) Secrets() [][]byte      { return [][]byte{r.PIN} }
func (r *SSHSignRequest) KeyAlias() string      { return r.Alias }
func (r *SSHSignRequest) KeyNamespace() *uint32 { return nil }
func (r *SSHAgentRequest) Secrets() [][]byte    { return [][]byte{r.Passphrase} }
