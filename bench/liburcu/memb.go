//go:build liburcu && linux

package liburcu

// The shim over liburcu-memb, the flavour package grace's memb flavour
// (grace.NewMemb) follows. _LGPL_SOURCE makes urcu/urcu-memb.h define
// rcu_read_lock and rcu_read_unlock as static inline functions, the fast
// paths a C program gets: with membarrier, a load and a store each and
// compiler barriers. synchronize_rcu and registration are calls into
// liburcu-memb.so.

/*
#cgo CFLAGS: -O2
#cgo LDFLAGS: -lurcu-memb -lpthread
#define _GNU_SOURCE
#define _LGPL_SOURCE
#include <urcu/urcu-memb.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static void memb_register(void) { urcu_memb_register_thread(); }
static void memb_unregister(void) { urcu_memb_unregister_thread(); }
static void memb_synchronize(void) { urcu_memb_synchronize_rcu(); }
static int memb_has_membarrier(void) { return urcu_memb_has_sys_membarrier; }

static void memb_read_loop(long n) {
	for (long i = 0; i < n; i++) {
		urcu_memb_read_lock();
		urcu_memb_read_unlock();
	}
}

// memb_idle is a set of registered reader threads that stay outside their
// read-side sections until stopped.
struct memb_idle {
	int n;
	int ready; // threads registered
	int stop;
	pthread_t *threads;
};

static void *memb_idle_main(void *arg) {
	struct memb_idle *s = arg;
	urcu_memb_register_thread();
	uatomic_inc(&s->ready);
	struct timespec ms = {0, 1000000};
	while (!CMM_LOAD_SHARED(s->stop))
		nanosleep(&ms, NULL);
	urcu_memb_unregister_thread();
	return NULL;
}

static struct memb_idle *memb_idle_start(int n, int *err) {
	struct memb_idle *s = calloc(1, sizeof *s);
	if (s == NULL || (s->threads = calloc(n, sizeof(pthread_t))) == NULL) {
		free(s);
		*err = ENOMEM;
		return NULL;
	}
	for (; s->n < n; s->n++) {
		*err = pthread_create(&s->threads[s->n], NULL, memb_idle_main, s);
		if (*err != 0)
			break;
	}
	while (uatomic_read(&s->ready) < s->n)
		sched_yield();
	return s;
}

static void memb_idle_stop(struct memb_idle *s) {
	CMM_STORE_SHARED(s->stop, 1);
	for (int i = 0; i < s->n; i++)
		pthread_join(s->threads[i], NULL);
	free(s->threads);
	free(s);
}
*/
import "C"

import (
	"fmt"
	"syscall"
)

// membRegister registers the calling thread as a memb reader; the caller
// must be locked to its thread until membUnregister.
func membRegister() { C.memb_register() }

func membUnregister() { C.memb_unregister() }

// membReadLoop makes n rcu_read_lock/rcu_read_unlock pairs in one cgo call.
func membReadLoop(n int) { C.memb_read_loop(C.long(n)) }

// membSynchronize is one synchronize_rcu.
func membSynchronize() { C.memb_synchronize() }

// membHasMembarrier reports whether liburcu-memb uses membarrier (else its
// read side fences).
func membHasMembarrier() bool { return C.memb_has_membarrier() != 0 }

// membIdle is a set of registered reader threads outside their sections.
type membIdle struct{ s *C.struct_memb_idle }

func startMembIdle(n int) (*membIdle, error) {
	var errno C.int
	s := C.memb_idle_start(C.int(n), &errno)
	if s == nil {
		return nil, fmt.Errorf("liburcu: memb reader threads: %w", syscall.Errno(errno))
	}
	m := &membIdle{s}
	if errno != 0 {
		m.stop()
		return nil, fmt.Errorf("liburcu: memb reader threads: %w", syscall.Errno(errno))
	}
	return m, nil
}

func (m *membIdle) stop() { C.memb_idle_stop(m.s) }
