package sshagent

// importKey imports a plaintext private key as alias through the core.
// The Import operation (opcode 36) is another issue's; until it is in the
// core, ssh-add of a key file is refused with a clear error.
func (a *sshAgent) importKey(alias string, key any) error {
	return ErrNoImport
}
