/*
 * ctseq.pml: a Promela model of ctseq.Word, the per-CPU deferral word
 * (ctseq/word.go, ctseq/entry.go, ctseq/layout.go, ctseq/drain.go).
 *
 * One owner (the CPU) and two senders, each delivering one work item that it
 * owns one bit for. Every access to the shared word is one Promela atomic
 * step, exactly as every access in word.go is one Go atomic (sequentially
 * consistent, so interleaving at this granularity is exact).
 *
 * The word, narrowed (layout.go has [seq:45|reserved|work:16|state:3]):
 *
 *     bit   6 5    4 3    2 1 0
 *         [ seq ][ work ][ state ]   seq mod 4 (like -tags ctdefer_narrowseq),
 *                                    work bit i belongs to sender i,
 *                                    state encoded Kernel=3, Idle=2, User=5.
 *
 * As in layout.go, `word` holds the value minus the bias 3 (Kernel's
 * encoding), so that 0 is Kernel, seq 0, no work; the state is tested on the
 * stored word's state field (Kernel 0, Idle 7, User 2, as word.go's
 * n&stateMask != rawUser), and the work and seq fields are decoded from the
 * actual value (an Idle word borrows through them when stored).
 *
 * Properties (each assertion names a ghost boolean, so a trail says which):
 *   P1 p1_at_most_once / p1_exactly_once: each sender's item runs once,
 *      deferred or by IPI, never twice (checked at every run) and never zero
 *      times (checked when everything is over).
 *   P2 p2_claimed_by_next_entry: a deferred bit is run by the first entry
 *      after the CAS that accepted it; p2_nothing_pending: when an entry has
 *      returned (and drained), the word's work field holds exactly the bits
 *      that entry claimed (none is pending), and every item accepted before
 *      that entry has run; p2_exit_clears: the exit out of Kernel (UserEnter,
 *      IdleEnter) leaves no work bit in the word its add produces.
 *   P3 p3_refusal_clean: a refused SetWorkIfUser saw a non-User state at its
 *      decision point and left no trace (its bit is nowhere);
 *      p3_accept_in_user: an accepted one wrote into a User word.
 *   P4 p4_seq_advanced: every transition changes seq (mod 4);
 *      p4_pair_detected: a snapshot taken before an exit/enter pair never
 *      compares equal after it (QuiescentSince); p4_nested_no_transition:
 *      a nested Enter/Exit changes nothing.
 *   owner_no_misuse: the transition found the state it expects (word.go
 *      panics via misuse() otherwise).
 *   No invalid end state: pan's default deadlock check.
 *
 * Mutants (spin -a -DMUTANT_...):
 *   MUTANT_TWO_ATOMIC   Peter Zijlstra's 2021 design (LKML thread "context-
 *                       tracking: Introduce work deferral infrastructure",
 *                       July 2023): work bits live in a separate
 *                       atomic ORed in before a CAS that sets a FLAG bit in
 *                       the state word; a failed CAS leaves the bit behind.
 *   MUTANT_IGNORE_STATE SetWorkIfUser ORs its bit in without looking at the
 *                       state (CAS loop kept, state test removed).
 *   MUTANT_NO_SEQ       KernelEnter's delta forgets seqInc.
 *   MUTANT_EXIT_KEEPS   UserEnter and IdleEnter do not subtract the claimed
 *                       bits: they stay in the word and read as pending.
 * NO_P3 disables the P3 assertions, to show that the end-to-end properties
 * P1/P2 alone also catch the first two mutants.
 */

/* The states as stored: layout.go rawKernel, rawIdle, rawUser. */
#define KERNEL 0
#define IDLE   7
#define USER   2

#define BIAS       3    /* layout.go bias = encKernel */
#define STATE_MASK 7
#define WORK_SHIFT 3
#define WORK_MASK  24
#define SEQ_SHIFT  5
#define SEQ_INC    32
#define WORD_MASK  127  /* the uint64 add wraps: a carry out of seq is dropped */

#define actual(v)  (((v) + BIAS) & WORD_MASK)                 /* layout.go actual */
#define stateOf(v) ((v) & STATE_MASK)                         /* raw state field, as word.go tests it */
#define workOf(v)  ((actual(v) & WORK_MASK) >> WORK_SHIFT)    /* Snapshot.Work */
#define seqOf(v)   (actual(v) >> SEQ_SHIFT)                   /* Snapshot.Seq */
#define enc(s)     (((s) + BIAS) & STATE_MASK)                /* encKernel 3, encIdle 2, encUser 5 */

/* layout.go delta(enc(from), enc(to)) = seqInc + enc(to) - enc(from) (two's
 * complement); from and to are stored state fields. */
#define delta(from, to) (SEQ_INC + enc(to) - enc(from))

#ifdef MUTANT_NO_SEQ
#define DELTA_KERNEL_ENTER (enc(KERNEL) - enc(USER))   /* BUG: seqInc forgotten */
#else
#define DELTA_KERNEL_ENTER delta(USER, KERNEL)
#endif

byte word = 0;          /* Word.v; the zero Word: Kernel, seq 0, no work */

#ifdef MUTANT_TWO_ATOMIC
#define FLAG 8          /* CT_SEQ_WORK: a flag bit in the state word (work bit 0's place) */
byte ctwork = 0;        /* ct->work: the work bits, in a second atomic */
#endif

bit ipi[2];             /* per-sender IPI mailbox (the IPI in flight) */
bit done[2];            /* sender i has returned from its send */

/* ghosts */
byte entries = 0;       /* KernelEnter/IdleExit calls so far (incl. the add) */
bit  accepted[2];       /* sender i's SetWorkIfUser returned true */
byte acc_at[2];         /* value of entries when it was accepted */
byte deferred_runs[2];  /* item i run by Table.Drain after an entry */
byte ipi_runs[2];       /* item i run by the IPI handler */

bool p1_at_most_once, p1_exactly_once;
bool p2_claimed_by_next_entry, p2_nothing_pending, p2_exit_clears;
bool p3_refusal_clean, p3_accept_in_user;
bool p4_seq_advanced, p4_pair_detected, p4_nested_no_transition;
bool owner_no_misuse;

/* ------------------------------------------------------------------ owner */

/* One owner transition: n := w.v.Add(d) (UserEnter, KernelEnter, IdleEnter,
 * IdleExit in word.go), then the misuse check on the returned word. prev is
 * a ghost copy of the old word (the Go Add returns only the new one). */
inline transition(d, to, is_entry)
{
	atomic {
		prev = word;
		word = (word + (d)) & WORD_MASK;
		n = word;
		entries = entries + (is_entry);
		p4_seq_advanced = (seqOf(n) != seqOf(prev));
		assert(p4_seq_advanced);
		owner_no_misuse = (stateOf(n) == (to));   /* if stateOf(n) != ... { w.misuse(...) } */
		assert(owner_no_misuse)
	}
}

/* UserEnter (to = USER) or IdleEnter (to = IDLE), word.go exitKernel:
 * d -= w.v.Load() & workMask, then the add. The load is its own step: a
 * sender may run between it and the add (and must be refused: the word is
 * Kernel). The add must leave no work bit (P2 p2_exit_clears). */
inline exit_kernel(to)
{
	l = word & WORK_MASK;                      /* load: the claimed bits, raw */
#ifdef MUTANT_EXIT_KEEPS
	l = 0;                                     /* BUG: the claimed bits stay */
#endif
	atomic {
		transition(delta(KERNEL, to) - l, to, 0);
		p2_exit_clears = (workOf(n) == 0);
		assert(p2_exit_clears)
	}
}

/* Run item i once more: by Table.Drain (deferred) or by the IPI handler.
 * P1 is checked at every run. */
inline check_p1(i)
{
	p1_at_most_once = (deferred_runs[i] + ipi_runs[i] <= 1);
	assert(p1_at_most_once)
}
inline run_deferred(i) { atomic { deferred_runs[i]++; check_p1(i) } }
inline run_ipi(i)      { atomic { ipi[i] = 0; ipi_runs[i]++; check_p1(i) } }

/* drain.go Table.Drain(work): every bit of w, lowest first. */
inline drain(w)
{
	if
	:: (w & 1) ->
		run_deferred(0);
		p2_claimed_by_next_entry = (accepted[0] && acc_at[0] == entries - 1);
		assert(p2_claimed_by_next_entry)
	:: else
	fi;
	if
	:: (w & 2) ->
		run_deferred(1);
		p2_claimed_by_next_entry = (accepted[1] && acc_at[1] == entries - 1);
		assert(p2_claimed_by_next_entry)
	:: else
	fi
}

/* The IPI handler: the owner takes the interrupt in the kernel and runs the
 * item the sender could not defer. Polled after every entry and at the end. */
inline handle_ipis()
{
	do
	:: ipi[0] -> run_ipi(0)
	:: ipi[1] -> run_ipi(1)
	:: else -> break
	od
}

/* P2 after an entry has returned and drained: the word (Kernel: no sender
 * writes it) still carries exactly the bits the entry claimed. */
inline check_nothing_pending()
{
	atomic {
		p2_nothing_pending =
			(workOf(word) == w &&
			 !(accepted[0] && acc_at[0] < entries && deferred_runs[0] == 0) &&
			 !(accepted[1] && acc_at[1] < entries && deferred_runs[1] == 0));
		assert(p2_nothing_pending)
	}
}

/* KernelEnter (d = DELTA_KERNEL_ENTER, from User) or IdleExit (d =
 * delta(IDLE, KERNEL)), the drain and the IPI poll. */
inline enter_kernel(d)
{
	/* word.go KernelEnter/IdleExit: n := w.v.Add(d) */
	transition(d, KERNEL, 1);
#ifdef MUTANT_TWO_ATOMIC
	/* PeterZ 2021: only if FLAG is set in the state word, take the work
	 * from the second atomic (xchg to 0) and clear FLAG. */
	if
	:: (n & FLAG) ->
		atomic { w = ctwork; ctwork = 0 };
		atomic { word = word - FLAG }
	:: else -> w = 0
	fi;
#else
	/* word.go KernelEnter: return workOf(n). The bits stay in the word,
	 * claimed, until exit_kernel subtracts them. */
	w = workOf(n);
#endif
	drain(w);                   /* caller: Table.Drain(work) */
	check_nothing_pending();    /* P2 */
	handle_ipis()
}

active proctype Owner()
{
	byte n, prev, w, snap, e, l;

	/* Round trip 1. Snapshot (snapshot.go) taken in Kernel before the
	 * exit/enter pair. */
	snap = seqOf(word);
	exit_kernel(USER);                         /* word.go UserEnter */
	enter_kernel(DELTA_KERNEL_ENTER);          /* word.go KernelEnter */
	p4_pair_detected = (seqOf(word) != snap);  /* snapshot.go QuiescentSince */
	assert(p4_pair_detected);

	/* A nested Enter/Exit inside the kernel (entry.go), as an interrupt in
	 * kernel code: Enter does one load, sees Kernel, returns Entry{}; the
	 * interrupt polls IPIs; Exit(Entry{}) returns at once (!e.outer). */
	atomic { e = word; snap = seqOf(e) };       /* Enter: stateOf(w.v.Load()) */
	assert(stateOf(e) == KERNEL);              /* -> default: return Entry{} */
	handle_ipis();
	p4_nested_no_transition = (seqOf(word) == snap && stateOf(word) == KERNEL);
	assert(p4_nested_no_transition);           /* Exit: if !e.outer { return } */

	/* Round trip 2. */
	snap = seqOf(word);
	exit_kernel(USER);                         /* UserEnter */
	enter_kernel(DELTA_KERNEL_ENTER);          /* KernelEnter */
	p4_pair_detected = (seqOf(word) != snap);
	assert(p4_pair_detected);

	/* Idle episode. */
	snap = seqOf(word);
	exit_kernel(IDLE);                         /* word.go IdleEnter */
	enter_kernel(delta(IDLE, KERNEL));         /* word.go IdleExit */
	p4_pair_detected = (seqOf(word) != snap);
	assert(p4_pair_detected);

	/* The owner stays in the kernel and keeps taking IPIs until both
	 * senders have returned (a sender sets ipi[i] before done[i]). */
	do
	:: ipi[0] -> run_ipi(0)
	:: ipi[1] -> run_ipi(1)
	:: done[0] && done[1] && !ipi[0] && !ipi[1] -> break
	od;

	/* P1: every item ran exactly once. */
	p1_exactly_once = (deferred_runs[0] + ipi_runs[0] == 1 &&
	                   deferred_runs[1] + ipi_runs[1] == 1);
	assert(p1_exactly_once)
}

/* ---------------------------------------------------------------- senders */

proctype Sender(byte id)
{
	byte old, n, mybits;
	bool cas_ok, refused;

	mybits = (1 << id) << WORK_SHIFT;      /* uint64(work) << workShift */

#ifdef MUTANT_TWO_ATOMIC
	/* Peter Zijlstra's 2021 design, as quoted in the LKML thread
	 * "context-tracking: Introduce work deferral infrastructure":
	 *   seq = atomic_read(&ct->seq);
	 *   if (in_user(seq)) { atomic_or(work, &ct->work);
	 *       ret = atomic_try_cmpxchg(&ct->seq, &seq, seq|CT_SEQ_WORK); }
	 *   if (!ret) send IPI  */
	old = word;
	if
	:: stateOf(old) == USER ->
		atomic { ctwork = ctwork | (1 << id) };          /* atomic_or */
		atomic {                                       /* try_cmpxchg */
			if
			:: word == old ->
				word = old | FLAG;
				accepted[id] = 1; acc_at[id] = entries;
				cas_ok = 1
			:: else -> cas_ok = 0
			fi
		}
	:: else -> cas_ok = 0
	fi;
	refused = !cas_ok;
#else
	old = word;                            /* word.go: old := w.v.Load() */
	do
	:: true ->
#ifndef MUTANT_IGNORE_STATE
		if
		:: stateOf(old) != USER ->          /* if stateOf(old) != User */
			refused = 1; break              /*     return false */
		:: else
		fi;
#endif
		/* n := old | uint64(work)<<workShift. The n == old shortcut
		 * (bit already pending: return true, no write) cannot occur
		 * here: each bit has one sender, which sends it once. */
		n = old | mybits;
		atomic {                            /* w.v.CompareAndSwap(old, n) */
			if
			:: word == old ->
#ifndef NO_P3
				p3_accept_in_user = (stateOf(word) == USER);
				assert(p3_accept_in_user);
#endif
				word = n;
				accepted[id] = 1; acc_at[id] = entries;
				cas_ok = 1
			:: else -> cas_ok = 0
			fi
		};
		if
		:: cas_ok -> break                  /* return true */
		:: else -> old = word               /* old = w.v.Load(); retry */
		fi
	od;
#endif

	if
	:: refused ->
#ifndef NO_P3
		/* P3: the decision was taken on a non-User word, and the
		 * refused send left no trace anywhere. */
		atomic {
			p3_refusal_clean = (stateOf(old) != USER && (workOf(word) & (1 << id)) == 0
#ifdef MUTANT_TWO_ATOMIC
				&& (ctwork & (1 << id)) == 0
#endif
				);
			assert(p3_refusal_clean)
		};
#endif
		ipi[id] = 1                          /* caller sends the IPI */
	:: else
	fi;
	done[id] = 1
}

init
{
	atomic { run Sender(0); run Sender(1) }
}
