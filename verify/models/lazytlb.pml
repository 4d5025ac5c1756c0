/*
 * lazytlb.pml: Rik van Riel's lazy-TLB state machine ("x86,mm,sched: make
 * lazy TLB mode even lazier", LKML, August 2016) as
 * ctdefer's lazytlb package implements it, for one CPU and one address
 * space (mm). The comments name the patch's kernel code each step stands
 * for; lazytlb/state.go maps one atomic per step (its switch back also skips
 * a flush already overtaken by a newer generation, which this model's
 * property does not need, and its state numbering differs).
 *
 *   state      per-CPU tlbstate: OK (using the mm), LAZY (running a kernel
 *              thread with the mm still loaded), FLUSH (lazy, and a
 *              shootdown asked for a flush at the next switch back).
 *   gen        mm.tlb_gen: bumped by every shootdown.
 *   cpu_gen    the generation this CPU's TLB has been flushed to.
 *   completed_gen  (ghost) the newest generation whose shootdown returned.
 *
 * Design modelled: the state word alone says "must flush"; the generation
 * only records which version the flush reached. The switch back does not
 * compare generations (today's x86 does; that would mask the mutant).
 *
 * Owner: ROUNDS times { poll IPIs, use the mm, go LAZY (plain store: from
 * OK only the owner writes), switch back with one atomic exchange to OK and
 * flush if the old state was FLUSH, use the mm, poll IPIs }; then it stays in
 * OK taking IPIs until the flusher is done. It takes IPIs only while OK (at
 * its poll points); while LAZY an IPI waits, which is the slowest legal
 * behaviour (taking it while LAZY would only flush earlier).
 *
 * Flusher: FLUSHES times { gen++; s = state; loop { OK: IPI and wait for the
 * ack (smp_call_function, wait=1); FLUSH: nothing; LAZY: old =
 * cmpxchg(LAZY -> FLUSH): success -> done, else re-decide on old } ;
 * completed_gen = gen of this shootdown }.
 *
 * Properties:
 *   P5 p5_use_fresh: whenever the owner uses the mm, cpu_gen >=
 *      completed_gen (no flush lost once its shootdown has returned);
 *   P5 p5_flush_kept: the switch back never overwrites a FLUSH it did not
 *      see; p5_lazy_from_ok: going LAZY overwrites only OK.
 *   No invalid end state (pan's deadlock check): the IPI wait terminates.
 *
 * Mutant -DMUTANT_PLAIN_STORE: the switch back is the patch's
 *   oldstate = this_cpu_read(state); this_cpu_write(state, OK);
 * two steps: a cmpxchg(LAZY -> FLUSH) landing in between is overwritten.
 * -DNO_P5_KEPT drops the p5_flush_kept assertion, to show that the
 * end-to-end check p5_use_fresh alone also catches the mutant.
 * -DROUNDS=n / -DFLUSHES=n change the bounds (default 2 and 2).
 */

#define OK    0
#define LAZY  1
#define FLUSH 2

#ifndef ROUNDS
#define ROUNDS 2
#endif
#ifndef FLUSHES
#define FLUSHES 2
#endif

byte state = OK;        /* per_cpu(cpu_tlbstate.state) */
byte gen = 0;           /* mm->context.tlb_gen */
byte cpu_gen = 0;       /* this CPU's flushed-to generation */
byte completed_gen = 0; /* ghost */
bit  ipi = 0;           /* flush IPI pending (the flusher waits for 0) */
bit  flusher_done = 0;

bool p5_use_fresh, p5_flush_kept, p5_lazy_from_ok;

/* The owner uses the mm (runs user code on it). */
inline use_mm()
{
	atomic {
		p5_use_fresh = (cpu_gen >= completed_gen);
		assert(p5_use_fresh)
	}
}

/* flush_tlb_func, run as the IPI handler: flush to the mm's current
 * generation (read now), then acknowledge (the flusher's wait returns). */
inline take_ipi()
{
	cpu_gen = gen;
	ipi = 0
}

/* Poll point while OK: interrupts enabled. */
inline poll_ipis()
{
	do
	:: ipi -> take_ipi()
	:: else -> break
	od
}

active proctype Owner()
{
	byte old, k = 0;

	do
	:: k < ROUNDS ->
		poll_ipis();
		use_mm();

		/* switch to a kernel thread, keeping the mm: enter_lazy_tlb:
		 * this_cpu_write(cpu_tlbstate.state, TLBSTATE_LAZY). In OK
		 * only the owner writes the state, so a store suffices. */
		atomic {
			p5_lazy_from_ok = (state == OK);
			assert(p5_lazy_from_ok);
			state = LAZY
		};

		/* ... the kernel thread runs: no use of the mm, no IPIs ... */

		/* switch back to a task of this mm (context switch). */
#ifdef MUTANT_PLAIN_STORE
		old = state;                         /* oldstate = this_cpu_read(state) */
		atomic {                             /* this_cpu_write(state, OK) */
			p5_flush_kept = !(state == FLUSH && old != FLUSH);
#ifndef NO_P5_KEPT
			assert(p5_flush_kept);
#endif
			state = OK
		};
#else
		atomic {                             /* oldstate = xchg(state, OK) (fix 1 of the patch) */
			old = state;
			p5_flush_kept = 1;               /* the exchange returns what it overwrites */
			state = OK
		};
#endif
		if
		:: old == FLUSH -> cpu_gen = gen    /* if (oldstate == TLBSTATE_FLUSH) local flush */
		:: else
		fi;
		use_mm();
		poll_ipis();
		k++
	:: else -> break
	od;

	/* Stay on the mm, taking IPIs, until the flusher has finished. */
	do
	:: ipi -> take_ipi()
	:: flusher_done -> break
	od;
	use_mm()
}

active proctype Flusher()
{
	byte r = 0, s, old, my_gen;

	do
	:: r < FLUSHES ->
		atomic { gen++; my_gen = gen };      /* inc_mm_tlb_gen(mm) */
		s = state;                           /* switch (*tlbstate) */
		do
		:: s == OK ->                        /* in use: send a flush IPI */
			ipi = 1;
			(ipi == 0);                      /* and wait for it (wait=1) */
			break
		:: s == FLUSH -> break              /* already marked: skip */
		:: s == LAZY ->
			atomic {                         /* old = cmpxchg(tlbstate, LAZY, FLUSH) */
				old = state;
				if
				:: state == LAZY -> state = FLUSH
				:: else
				fi
			};
			if
			:: old == LAZY -> break          /* marked: flushed at switch back */
			:: else -> s = old               /* it moved: re-decide (OK -> IPI) */
			fi
		od;
		completed_gen = my_gen;              /* the shootdown returns */
		r++
	:: else -> break
	od;
	flusher_done = 1
}
