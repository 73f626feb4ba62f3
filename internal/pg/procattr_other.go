//go:build !linux

package pg

import "syscall"

// dieWithParent is Linux's parent-death signal; elsewhere an initdb that
// outlives a killed Fluxbase is waited for when its directory is removed.
func dieWithParent(*syscall.SysProcAttr) {}
