// Package store keeps the daemon's key records, one MAC-protected file per
// key under STATE/keys/<uid>/<alias>.key, in the format docs/STORE.md
// describes.
package store
