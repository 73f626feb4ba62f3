package pg

import "syscall"

// dieWithParent has the child killed when the thread that started it
// exits, which for a child started under runtime.LockOSThread is when
// Fluxbase itself dies, kill -9 included.
func dieWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
