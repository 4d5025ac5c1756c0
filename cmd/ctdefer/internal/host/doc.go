// Package host reads what the kernel says about the machine: CPU lists, the
// kernel command line, cgroups (v1 and v2), IRQ affinities, interrupt
// counts, frequency governors, SMT siblings, per-CPU times and a thread's
// scheduler statistics.
//
// Every parser is a pure function of a string or an io.Reader, and every
// reader takes an fs.FS rooted at the host's "/" (os.DirFS("/") in
// production, an fstest.MapFS or testdata/ in tests), with paths written
// without the leading slash ("proc/cmdline"). A file that is missing or
// unreadable is an error wrapping fs.ErrNotExist or the read error; callers
// report it as "unknown" and go on. Nothing here panics on malformed input:
// it returns an error naming the file and the offending text.
package host
