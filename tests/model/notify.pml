/*
 * LinFsp's notify/rename protocol (docs/notify.md, DESIGN.md "Notify"), for
 * the spin model checker. tests/model/check.sh runs every variant below and
 * asserts its expected verdict.
 *
 * Processes
 *   Worker    the notify worker: takes BATCH and END items from the queue.
 *             A BATCH is resolved under the rename resource, taken with a
 *             plain shared acquire (the WinFsp bug) or, with -DSTARVE, with
 *             acquire_shared_starve_exclusive (the fix). An END drops the
 *             session counter and, at zero, releases the session's
 *             acquisition on behalf of the counter token.
 *   Client    a file system thread: notify_begin / notify / notify_end.
 *             Client 1 nests a second begin/end inside its session.
 *   Renamer   RENAME: acquires the resource exclusive (queuing as an
 *             exclusive waiter first), renames, releases.
 *   NameOp    LOOKUP/CREATE/...: a plain shared acquire; while it holds the
 *             resource the file system may itself run a notify session (its
 *             begin then comes from a thread that owns the resource).
 *   Monitor   asserts the invariants in every reachable state.
 *
 * Variants (spin -D...)
 *   STARVE            worker uses acquire_shared_starve_exclusive
 *   SESSION_PRIORITY  a begin neither opens nor joins a session while an
 *                     exclusive waiter is queued
 *   LOOP              clients open sessions forever (liveness checks); the
 *                     name op then does not notify (see README)
 *   NESTED_MUST_JOIN  assert that a nested begin always joins its session
 *
 * Every step marked atomic is done under one mutex in the implementation
 * (the resource's state word, or NotifyEngine::mutex_).
 */

/* ---- owner tokens ---------------------------------------------------- */
#define NOBODY   0
#define COUNTER  1   /* the session counter: a token that is not a thread */
#define WORKER   2
#define RENAMER  3
#define NAMEOP   4
#define CLIENT0  5   /* clients are CLIENT0 + i */
#define NCLIENTS 2
#define NTOKENS  (CLIENT0 + NCLIENTS)

#ifndef MAXTRY
#define MAXTRY 2     /* notify_begin retries before ETIMEDOUT */
#endif
#define QMAX 2       /* notify() waits while this many items are queued */

/* ---- the rename resource (ERESOURCE semantics) ------------------------ */
byte held[NTOKENS];      /* shared acquisitions, per owner token */
byte nshared = 0;        /* sum of held[] */
byte xowner = NOBODY;    /* exclusive owner */
byte xwaiters = 0;       /* queued exclusive waiters */

/* ---- the notify engine ------------------------------------------------ */
mtype = { BATCH, END };
chan work = [6] of { mtype };   /* room for every END: end() never waits */
byte sessions = 0;              /* begins whose END the worker has not seen */

bool renamed = false;
bool name_op_done = false;

/* Writer priority: a plain shared request is granted when nobody holds the
 * resource exclusive and no exclusive waiter is queued -- unless the
 * requester already owns it (recursion). Ownership is per token: a thread
 * that handed its acquisition to the counter no longer owns it. */
#define SHARED_OK(me)  (xowner == NOBODY && (xwaiters == 0 || held[me] > 0))
/* acquire_shared_starve_exclusive: only an exclusive holder stops it. */
#define STARVE_OK      (xowner == NOBODY)
#define EXCL_OK        (xowner == NOBODY && nshared == 0)

inline grant_shared(me) { held[me]++; nshared++ }

inline acquire_shared(me) {
  atomic { SHARED_OK(me) -> grant_shared(me) }
}

inline acquire_shared_starve_exclusive(me) {
  atomic { STARVE_OK -> grant_shared(me) }
}

/* Debug builds assert on release by a non-owner. */
inline release_shared(me) {
  assert(held[me] > 0);
  held[me]--; nshared--
}

/* set_owner: hand one held shared acquisition from one token to another. */
inline set_owner(from, to) {
  assert(held[from] > 0);
  held[from]--; held[to]++
}

/* Exclusive: queue as a waiter (announce), then wait for the grant. */
inline acquire_exclusive(me) {
  xwaiters++;
  atomic { EXCL_OK -> xowner = me; xwaiters-- }
}

inline release_exclusive(me) {
  assert(xowner == me);
  xowner = NOBODY
}

/* ---- notify_begin / notify / notify_end ------------------------------- */
#ifdef SESSION_PRIORITY
#define BEGIN_BACKS_OFF (xwaiters > 0)
#else
#define BEGIN_BACKS_OFF false
#endif

/* One try, under NotifyEngine::mutex_: join an open session, or open one
 * with a try-acquire that is then handed to the counter. */
inline begin_once(me, got) {
  atomic {
    if
    :: BEGIN_BACKS_OFF -> got = false
    :: else ->
       if
       :: sessions > 0 -> sessions++; got = true
       :: sessions == 0 && SHARED_OK(me) ->
            grant_shared(me); set_owner(me, COUNTER); sessions = 1; got = true
       :: else -> got = false
       fi
    fi
  }
}

/* Back off and retry until the timeout: ETIMEDOUT may come after any failed
 * try, and must come after MAXTRY retries. A failed begin holds nothing. */
inline notify_begin(me, got, tries) {
  tries = 0;
  do
  :: begin_once(me, got);
     if
     :: got -> break
     :: else ->
        if
        :: tries < MAXTRY -> tries++      /* back off, retry */
        :: break                          /* ETIMEDOUT */
        fi
     fi
  od;
  tries = 0
}

/* notify(): validated, then queued; waits while the queue is full. */
inline notify() {
  atomic { len(work) < QMAX -> work ! BATCH }
}

/* notify_end(): an END marker behind the batches; never waits. */
inline notify_end() {
  work ! END
}

/* ---- processes -------------------------------------------------------- */
proctype Worker() {
  mtype m;
end_idle:
  do
  :: work ? m ->
     if
     :: m == BATCH ->
#ifdef STARVE
        acquire_shared_starve_exclusive(WORKER);
#else
        acquire_shared(WORKER);
#endif
        /* resolve names to (parent nodeid, name, nodeid); queue the
         * invalidations for the invalidation thread */
        atomic { release_shared(WORKER) }
     :: m == END ->
        atomic {
          assert(sessions > 0);
          sessions--;
          if
          :: sessions == 0 -> release_shared(COUNTER)
          :: else -> skip
          fi
        }
     fi
  od
}

proctype Client(byte me; bool nests) {
  bool got, inner;
  byte tries;
#ifdef LOOP
  do
  :: true ->
#endif
  notify_begin(me, got, tries);
  if
  :: got ->
     if
     :: nests ->
        notify_begin(me, inner, tries);   /* nested: joins, or times out */
#ifdef NESTED_MUST_JOIN
        assert(inner);
#endif
        notify();
        if
        :: inner -> notify_end()
        :: else -> skip
        fi
     :: else -> skip
     fi;
     notify();
     notify_end()
  :: else -> skip
  fi;
  got = false; inner = false
#ifdef LOOP
  od
#endif
}

proctype Renamer() {
  acquire_exclusive(RENAMER);
  /* rename in the file system; update the node table */
  atomic { release_exclusive(RENAMER); renamed = true }
}

proctype NameOp() {
  bool got;
  byte tries;
  acquire_shared(NAMEOP);
  /* resolve the path, call the file system, which may report a change */
#ifndef LOOP
  if
  :: notify_begin(NAMEOP, got, tries);
     if
     :: got -> notify(); notify_end()
     :: else -> skip
     fi
  :: skip
  fi;
#endif
  atomic { release_shared(NAMEOP); name_op_done = true }
}

/* Invariants, checked in every reachable state (the monitor's one step can
 * run anywhere in any interleaving). */
#define MUTEX   (!(xowner != NOBODY && nshared > 0))
#define SUMS    (nshared == held[COUNTER] + held[WORKER] + held[RENAMER] + \
                 held[NAMEOP] + held[CLIENT0] + held[CLIENT0 + 1])
#define SESSION ((sessions > 0) == (held[COUNTER] == 1) && held[COUNTER] <= 1)
#define NOCLIENTHOLDS (held[CLIENT0] == 0 && held[CLIENT0 + 1] == 0 && held[RENAMER] == 0)

active proctype Monitor() {
  assert(MUTEX && SUMS && SESSION && NOCLIENTHOLDS)
}

init {
  atomic {
    run Worker();
    run Client(CLIENT0, true);
    run Client(CLIENT0 + 1, false);
    run Renamer();
    run NameOp()
  }
}

/* Liveness (pan -a -f -N done): the rename, and the name operation queued
 * behind it by writer priority, eventually complete. */
ltl done { <> (renamed && name_op_done) }
