//go:build cgo

package main

// cgoBuild says the PKCS#11 bench cases are built in (they need cgo).
const cgoBuild = true
