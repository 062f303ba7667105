package core

// arenaBytes is the test hook on the working-key cache: a copy of every
// byte of its arena, where the working keys live.
func (w *workingKeys) arenaBytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]byte(nil), w.arena...)
}
