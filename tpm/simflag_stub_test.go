//go:build !simulator

package tpm

const simulatorBuilt = false
