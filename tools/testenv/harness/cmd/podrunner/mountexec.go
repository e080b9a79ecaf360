package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// mountExec runs in a fresh mount namespace (the runner starts it with CLONE_NEWNS): it mounts each
// volume directory at its container path, then becomes the pod's user and executes the container's
// process. A container path whose directories do not exist on this machine gets them in an overlay
// of its nearest existing ancestor (upper layer under -scratch), so this machine's own file system is
// never written: only the container sees /etc/kafka-advertiser/tls or /var/run/secrets/....
//
//	podrunner mount-exec -uid U -gid G -scratch DIR [-bind HOSTDIR=PATH]... -- ARGV...
func mountExec(args []string) error {
	fl := flag.NewFlagSet("mount-exec", flag.ContinueOnError)
	uid := fl.Int("uid", 65532, "user to run as")
	gid := fl.Int("gid", 65532, "group to run as")
	scratch := fl.String("scratch", "", "directory for overlay layers")
	var binds []string
	fl.Func("bind", "HOSTDIR=PATH", func(s string) error { binds = append(binds, s); return nil })
	if err := fl.Parse(args); err != nil {
		return err
	}
	argv := fl.Args()
	if len(argv) == 0 || *scratch == "" {
		return fmt.Errorf("usage: mount-exec -uid U -gid G -scratch DIR [-bind HOSTDIR=PATH]... -- ARGV")
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	overlays := 0
	for _, b := range binds {
		src, dst, ok := strings.Cut(b, "=")
		if !ok {
			return fmt.Errorf("-bind %q: want HOSTDIR=PATH", b)
		}
		if err := mountPoint(dst, *scratch, &overlays); err != nil {
			return fmt.Errorf("%s: %w", dst, err)
		}
		if err := syscall.Mount(src, dst, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s at %s: %w", src, dst, err)
		}
	}
	if err := syscall.Setgroups([]int{}); err != nil {
		return err
	}
	if err := syscall.Setgid(*gid); err != nil {
		return err
	}
	if err := syscall.Setuid(*uid); err != nil {
		return err
	}
	// A change of credentials clears the parent-death signal: the container still dies with the runner.
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0); e != 0 {
		return e
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	return syscall.Exec(path, argv, os.Environ())
}

// mountPoint makes dir exist in this namespace: as it is, or created in an overlay of its nearest
// existing ancestor (never on "/" itself).
func mountPoint(dir, scratch string, n *int) error {
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return nil
	}
	base := filepath.Dir(dir)
	for {
		if _, err := os.Stat(base); err == nil {
			break
		}
		base = filepath.Dir(base)
	}
	real, err := filepath.EvalSymlinks(base)
	if err != nil {
		return err
	}
	if real == "/" {
		return fmt.Errorf("no directory to overlay below / (make the mount point under an existing directory)")
	}
	*n++
	upper, work := filepath.Join(scratch, fmt.Sprint(*n), "upper"), filepath.Join(scratch, fmt.Sprint(*n), "work")
	for _, d := range []string{upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", real, upper, work)
	if err := syscall.Mount("overlay", real, "overlay", 0, opts); err != nil {
		return fmt.Errorf("overlay on %s: %w", real, err)
	}
	return os.MkdirAll(dir, 0o755)
}
