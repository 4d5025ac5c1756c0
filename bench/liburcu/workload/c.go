//go:build liburcu && linux

package main

// The C side: liburcu's own benchmark loops, written here from their
// description, for two flavours. liburcu-qsbr (test_urcu_qsbr): readers
// read a pointer, check the value and report a quiescent state every 1,024
// reads. liburcu-memb (test_urcu, the urcu-memb flavour): readers bracket
// the same read with rcu_read_lock and rcu_read_unlock, and report nothing.
// In both, the writer swaps in a new object, waits for a grace period,
// poisons and frees the old one. Every thread is created in C with
// pthread_create, so that the C side never runs Go code. _LGPL_SOURCE gives
// the static-inline read side a C program gets. The two libraries link into
// one program: their symbols are namespaced (urcu_qsbr_*, urcu_memb_*), and
// the namespaced headers leave no rcu_* names mapped.

/*
#cgo CFLAGS: -O2
#cgo LDFLAGS: -lurcu-qsbr -lurcu-memb -lpthread
#define _GNU_SOURCE
#define _LGPL_SOURCE
#include <urcu/urcu-qsbr.h>
#include <urcu/urcu-memb.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int *wl_ptr;          // the RCU-protected pointer
static int wl_go, wl_stop;   // start and stop flags (CMM_LOAD_SHARED)
static uint64_t wl_bad;      // reads that saw a poisoned object

struct wl_thread {
	pthread_t thread;
	int cpu;            // the CPU to pin to
	int memb;           // 1: liburcu-memb, 0: liburcu-qsbr
	int err;            // the pinning errno
	int ready;          // set once registered and pinned
	uint64_t n;         // reads or writes done
	uint64_t vcsw;      // the writer's voluntary context switches (getrusage)
	uint64_t cpuns;     // the writer's CPU time in nanoseconds (getrusage)
};

#include <sys/resource.h>

static uint64_t wl_cpuns(struct rusage *r) {
	return (uint64_t)(r->ru_utime.tv_sec + r->ru_stime.tv_sec) * 1000000000 +
		(uint64_t)(r->ru_utime.tv_usec + r->ru_stime.tv_usec) * 1000;
}

static void wl_pin(struct wl_thread *t) {
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(t->cpu, &set);
	t->err = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void wl_synchronize(struct wl_thread *t) {
	if (t->memb)
		urcu_memb_synchronize_rcu();
	else
		urcu_qsbr_synchronize_rcu();
}

// wl_writer_end records a writer's count, and its voluntary context
// switches and CPU time since r0.
static void wl_writer_end(struct wl_thread *t, uint64_t n, struct rusage *r0) {
	struct rusage r1;
	getrusage(RUSAGE_THREAD, &r1);
	t->n = n;
	t->vcsw = r1.ru_nvcsw - r0->ru_nvcsw;
	t->cpuns = wl_cpuns(&r1) - wl_cpuns(r0);
}

// wl_reader_begin pins the reader, registers it (a QSBR reader offline),
// tells wl_run it is ready, and starts once every thread may (a QSBR
// reader goes online).
static void wl_reader_begin(struct wl_thread *t) {
	wl_pin(t);
	if (t->memb) {
		urcu_memb_register_thread();
	} else {
		urcu_qsbr_register_thread();
		urcu_qsbr_thread_offline();
	}
	CMM_STORE_SHARED(t->ready, 1);
	while (!CMM_LOAD_SHARED(wl_go))
		;
	if (!t->memb)
		urcu_qsbr_thread_online();
}

// wl_reader_end unregisters the reader and records its reads.
static void wl_reader_end(struct wl_thread *t, uint64_t n, uint64_t bad) {
	if (t->memb) {
		urcu_memb_unregister_thread();
	} else {
		urcu_qsbr_thread_offline();
		urcu_qsbr_unregister_thread();
	}
	t->n = n;
	if (bad)
		uatomic_add(&wl_bad, bad);
}

// wl_qsbr_perf_reader and wl_memb_perf_reader are rcutorture's read-side
// performance loop: runs of RCU_READ_RUN (1,000) empty read-side sections
// (which compile to nothing in the QSBR flavour), then a quiescent state
// (none in the memb flavour).
static void *wl_qsbr_perf_reader(void *arg) {
	struct wl_thread *t = arg;
	uint64_t n = 0;
	wl_reader_begin(t);
	while (!CMM_LOAD_SHARED(wl_stop)) {
		for (int i = 0; i < 1000; i++) {
			urcu_qsbr_read_lock();
			urcu_qsbr_read_unlock();
		}
		n += 1000;
		urcu_qsbr_quiescent_state();
	}
	wl_reader_end(t, n, 0);
	return NULL;
}

static void *wl_memb_perf_reader(void *arg) {
	struct wl_thread *t = arg;
	uint64_t n = 0;
	wl_reader_begin(t);
	while (!CMM_LOAD_SHARED(wl_stop)) {
		for (int i = 0; i < 1000; i++) {
			urcu_memb_read_lock();
			urcu_memb_read_unlock();
		}
		n += 1000;
	}
	wl_reader_end(t, n, 0);
	return NULL;
}

// wl_perf_updater is rcutorture's update-side performance loop:
// synchronize_rcu, counted, unpinned (cpu < 0).
static void *wl_perf_updater(void *arg) {
	struct wl_thread *t = arg;
	uint64_t n = 0;
	struct rusage r0;
	CMM_STORE_SHARED(t->ready, 1);
	while (!CMM_LOAD_SHARED(wl_go))
		;
	getrusage(RUSAGE_THREAD, &r0);
	while (!CMM_LOAD_SHARED(wl_stop)) {
		wl_synchronize(t);
		n++;
	}
	wl_writer_end(t, n, &r0);
	return NULL;
}

// wl_qsbr_reader is test_urcu_qsbr's reader, wl_memb_reader test_urcu's.
static void *wl_qsbr_reader(void *arg) {
	struct wl_thread *t = arg;
	uint64_t n = 0, bad = 0;
	wl_reader_begin(t);
	while (!CMM_LOAD_SHARED(wl_stop)) {
		urcu_qsbr_read_lock();
		int *p = rcu_dereference(wl_ptr);
		if (p != NULL && *p != 8)
			bad++;
		urcu_qsbr_read_unlock();
		n++;
		if ((n & 1023) == 0)
			urcu_qsbr_quiescent_state();
	}
	wl_reader_end(t, n, bad);
	return NULL;
}

static void *wl_memb_reader(void *arg) {
	struct wl_thread *t = arg;
	uint64_t n = 0, bad = 0;
	wl_reader_begin(t);
	while (!CMM_LOAD_SHARED(wl_stop)) {
		urcu_memb_read_lock();
		int *p = rcu_dereference(wl_ptr);
		if (p != NULL && *p != 8)
			bad++;
		urcu_memb_read_unlock();
		n++;
	}
	wl_reader_end(t, n, bad);
	return NULL;
}

static void *wl_writer(void *arg) {
	struct wl_thread *t = arg;
	uint64_t n = 0;
	struct rusage r0;
	wl_pin(t);
	CMM_STORE_SHARED(t->ready, 1);
	while (!CMM_LOAD_SHARED(wl_go))
		;
	getrusage(RUSAGE_THREAD, &r0);
	while (!CMM_LOAD_SHARED(wl_stop)) {
		int *nv = malloc(sizeof *nv);
		if (nv == NULL)
			abort();
		*nv = 8;
		int *old = rcu_xchg_pointer(&wl_ptr, nv);
		wl_synchronize(t);
		if (old != NULL)
			*old = 0; // poison: a reader that still held it would see 0
		free(old);
		n++;
	}
	wl_writer_end(t, n, &r0);
	return NULL;
}

// wl_has_membarrier reports whether liburcu-memb uses membarrier (else its
// read side fences).
static int wl_has_membarrier(void) { return urcu_memb_has_sys_membarrier; }

// wl_run runs the workload of one flavour (memb: liburcu-memb, else
// liburcu-qsbr) for ms milliseconds: nr readers pinned to rcpus[i], one
// writer pinned to wcpu. It returns 0 or an errno, and the reads, writes,
// the writer's voluntary context switches and CPU time, and the bad reads.
static int wl_run(int memb, int perf, int nr, int *rcpus, int wcpu, long ms, uint64_t *reads, uint64_t *writes,
		uint64_t *vcsw, uint64_t *cpuns, uint64_t *bad) {
	struct wl_thread th[nr + 1];
	memset(th, 0, sizeof th);
	CMM_STORE_SHARED(wl_go, 0);
	CMM_STORE_SHARED(wl_stop, 0);
	wl_bad = 0;
	int *first = malloc(sizeof *first);
	*first = 8;
	rcu_assign_pointer(wl_ptr, first);
	int err = 0, started = 0;
	for (int i = 0; i <= nr; i++) {
		th[i].memb = memb;
		th[i].cpu = i == nr ? wcpu : rcpus[i];
		void *(*fn)(void *);
		if (i == nr)
			fn = perf ? wl_perf_updater : wl_writer;
		else if (memb)
			fn = perf ? wl_memb_perf_reader : wl_memb_reader;
		else
			fn = perf ? wl_qsbr_perf_reader : wl_qsbr_reader;
		err = pthread_create(&th[i].thread, NULL, fn, &th[i]);
		if (err != 0)
			break;
		started++;
		while (!CMM_LOAD_SHARED(th[i].ready))
			sched_yield();
		if (th[i].err != 0) {
			err = th[i].err;
			break;
		}
	}
	if (err == 0) {
		CMM_STORE_SHARED(wl_go, 1);
		struct timespec d = {ms / 1000, (ms % 1000) * 1000000};
		nanosleep(&d, NULL);
	}
	CMM_STORE_SHARED(wl_go, 1);
	CMM_STORE_SHARED(wl_stop, 1);
	for (int i = 0; i < started; i++)
		pthread_join(th[i].thread, NULL);
	*reads = 0;
	for (int i = 0; i < nr; i++)
		*reads += th[i].n;
	*writes = th[nr].n;
	*vcsw = th[nr].vcsw;
	*cpuns = th[nr].cpuns;
	*bad = wl_bad;
	free(wl_ptr);
	wl_ptr = NULL;
	return err;
}
*/
import "C"

import (
	"fmt"
	"syscall"
	"time"
)

// runC runs the C side of one placement for d.
func runC(f *flavour, p placement, d time.Duration) (result, error) {
	rcpus := make([]C.int, len(p.readers))
	for i, c := range p.readers {
		rcpus[i] = C.int(c)
	}
	var reads, writes, vcsw, cpuns, bad C.uint64_t
	perf := C.int(0)
	if p.perf {
		perf = 1
	}
	memb := C.int(0)
	if f.memb {
		memb = 1
	}
	errno := C.wl_run(memb, perf, C.int(len(rcpus)), &rcpus[0], C.int(p.writer), C.long(d.Milliseconds()),
		&reads, &writes, &vcsw, &cpuns, &bad)
	if errno != 0 {
		return result{}, fmt.Errorf("workload: %s C side, placement %s: %w", f.name, p.name, syscall.Errno(errno))
	}
	return result{reads: uint64(reads), writes: uint64(writes), vcsw: uint64(vcsw), cpu: time.Duration(cpuns), bad: uint64(bad), d: d}, nil
}

// cHasMembarrier reports whether liburcu-memb uses membarrier (else its
// read side fences).
func cHasMembarrier() bool { return C.wl_has_membarrier() != 0 }
