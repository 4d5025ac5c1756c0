//go:build liburcu && linux

package liburcu

// The shim over liburcu-qsbr. _LGPL_SOURCE makes urcu-qsbr.h define the
// read side (urcu_qsbr_quiescent_state, _thread_online, _thread_offline)
// as static inline functions, the fast paths a C program gets; the rest
// (register, synchronize_rcu) are calls into liburcu-qsbr.so.
//
// A reader thread is created in C with pthread_create, so that it never
// enters Go; its state is allocated in C (cgo forbids keeping Go pointers
// in C), and its flags are read and written with liburcu's own
// CMM_LOAD_SHARED and CMM_STORE_SHARED (volatile accesses; the flags only
// start and stop the loop, they order nothing).

/*
#cgo CFLAGS: -O2
#cgo LDFLAGS: -lurcu-qsbr -lpthread
#define _GNU_SOURCE
#define _LGPL_SOURCE
#include <urcu-qsbr.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static void shim_register(void) { urcu_qsbr_register_thread(); }
static void shim_unregister(void) { urcu_qsbr_unregister_thread(); }
static void shim_quiescent(void) { urcu_qsbr_quiescent_state(); }
static void shim_synchronize(void) { urcu_qsbr_synchronize_rcu(); }

static void shim_quiescent_loop(long n) {
	for (long i = 0; i < n; i++)
		urcu_qsbr_quiescent_state();
}

// shim_synchronize_timed times n calls of synchronize_rcu one by one.
static void shim_synchronize_timed(int64_t *ns, long n) {
	struct timespec a, b;
	for (long i = 0; i < n; i++) {
		clock_gettime(CLOCK_MONOTONIC, &a);
		urcu_qsbr_synchronize_rcu();
		clock_gettime(CLOCK_MONOTONIC, &b);
		ns[i] = (int64_t)(b.tv_sec - a.tv_sec) * 1000000000 + (b.tv_nsec - a.tv_nsec);
	}
}

enum { SHIM_BUSY, SHIM_OFFLINE };

struct shim_reader {
	pthread_t thread;
	int cpu;   // the CPU to pin to, or -1
	int mode;  // SHIM_BUSY or SHIM_OFFLINE
	int ready; // set by the reader once registered (and offline)
	int stop;  // set by shim_reader_stop
	int err;   // the pinning errno
};

static void *shim_reader_main(void *arg) {
	struct shim_reader *r = arg;
	if (r->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(r->cpu, &set);
		r->err = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
	}
	urcu_qsbr_register_thread();
	if (r->mode == SHIM_OFFLINE)
		urcu_qsbr_thread_offline();
	cmm_smp_mb();
	CMM_STORE_SHARED(r->ready, 1);
	if (r->mode == SHIM_BUSY) {
		while (!CMM_LOAD_SHARED(r->stop))
			urcu_qsbr_quiescent_state();
	} else {
		struct timespec ms = {0, 1000000};
		while (!CMM_LOAD_SHARED(r->stop))
			nanosleep(&ms, NULL);
		urcu_qsbr_thread_online();
	}
	urcu_qsbr_unregister_thread();
	return NULL;
}

// shim_reader_start starts a reader thread and waits until it has
// registered; it returns NULL with *err set if it cannot.
static struct shim_reader *shim_reader_start(int cpu, int mode, int *err) {
	struct shim_reader *r = calloc(1, sizeof *r);
	if (r == NULL) {
		*err = ENOMEM;
		return NULL;
	}
	r->cpu = cpu;
	r->mode = mode;
	*err = pthread_create(&r->thread, NULL, shim_reader_main, r);
	if (*err != 0) {
		free(r);
		return NULL;
	}
	while (!CMM_LOAD_SHARED(r->ready))
		sched_yield();
	cmm_smp_mb();
	*err = r->err;
	return r;
}

static void shim_reader_stop(struct shim_reader *r) {
	CMM_STORE_SHARED(r->stop, 1);
	pthread_join(r->thread, NULL);
	free(r);
}
*/
import "C"

import (
	"fmt"
	"syscall"
)

// registerThread registers the calling thread as a QSBR reader, online. The
// caller must be locked to its thread (runtime.LockOSThread) until
// unregisterThread.
func registerThread() { C.shim_register() }

func unregisterThread() { C.shim_unregister() }

// quiescentState is one rcu_quiescent_state per cgo call.
func quiescentState() { C.shim_quiescent() }

// quiescentLoop calls rcu_quiescent_state n times in one cgo call.
func quiescentLoop(n int) { C.shim_quiescent_loop(C.long(n)) }

// synchronize is one synchronize_rcu per cgo call.
func synchronize() { C.shim_synchronize() }

// synchronizeTimed calls synchronize_rcu len(ns) times in one cgo call and
// stores each call's duration in nanoseconds.
func synchronizeTimed(ns []int64) {
	if len(ns) > 0 {
		C.shim_synchronize_timed((*C.int64_t)(&ns[0]), C.long(len(ns)))
	}
}

// reader is a registered reader thread created in C.
type reader struct{ r *C.struct_shim_reader }

// startReader starts a reader thread pinned to cpu (unpinned if cpu < 0):
// with offline, it registers and goes offline; otherwise it reports a
// quiescent state in a tight loop. It returns once the reader is registered.
func startReader(cpu int, offline bool) (*reader, error) {
	mode := C.int(C.SHIM_BUSY)
	if offline {
		mode = C.SHIM_OFFLINE
	}
	var errno C.int
	r := C.shim_reader_start(C.int(cpu), mode, &errno)
	if r == nil {
		return nil, fmt.Errorf("liburcu: starting the reader thread: %w", syscall.Errno(errno))
	}
	rd := &reader{r}
	if errno != 0 {
		rd.stop()
		return nil, fmt.Errorf("liburcu: pinning the reader thread to CPU %d: %w", cpu, syscall.Errno(errno))
	}
	return rd, nil
}

// stop ends the reader's loop, and it unregisters; stop waits for it.
func (rd *reader) stop() { C.shim_reader_stop(rd.r) }
