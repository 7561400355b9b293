/*
 * The notify/rename protocol of LinFsp (docs/notify.md), for spin.
 *
 * Modelled: the rename resource with ERESOURCE semantics (shared count,
 * exclusive holder, queued exclusive waiters, writer priority, the
 * starve-exclusive acquire); notify sessions whose first Begin try-acquires
 * the resource shared and hands it to the session counter; the notify worker
 * that takes batches and End markers from a queue; a renamer (exclusive) and
 * a plain name operation (shared).
 *
 * Abstracted away: names and the node table (a batch is a token), the
 * invalidation thread (it holds no lock of ours, so it cannot take part in a
 * cycle), timeouts (a Begin may give up at any retry), recursion.
 *
 * Variants (spin -D...):
 *   STARVE            the worker uses acquire_shared_starve_exclusive
 *                     (without it: a plain shared acquire, as WinFsp had)
 *   SESSION_PRIORITY  Begin neither opens nor joins a session while a rename
 *                     is queued
 *   LOOP              clients open sessions forever (for the liveness check)
 */

mtype = { BATCH, END };

chan work = [4] of { mtype };

byte res_shared = 0;     /* shared acquisitions held */
bool res_excl = false;   /* held exclusive */
byte excl_waiters = 0;   /* queued exclusive waiters */
byte sessions = 0;       /* begins minus processed ends */
bool renamed = false;
bool name_op_done = false;

/* Exclusive holders never coexist with shared ones. */
#define MUTEX_OK (!(res_excl && res_shared > 0))

inline acquire_exclusive() {
  excl_waiters++;
  atomic { (!res_excl && res_shared == 0) -> res_excl = true; excl_waiters-- };
  assert(MUTEX_OK)
}

/* Writer priority: a plain shared request waits behind a queued writer. */
inline acquire_shared() {
  atomic { (!res_excl && excl_waiters == 0) -> res_shared++ };
  assert(MUTEX_OK)
}

inline acquire_shared_starve_exclusive() {
  atomic { (!res_excl) -> res_shared++ };
  assert(MUTEX_OK)
}

/* notify_begin: join an open session or open one with a try-acquire; on
 * failure back off and retry, or give up (the timeout). */
inline notify_begin(got) {
  got = false;
  do
  :: atomic {
       if
#ifdef SESSION_PRIORITY
       :: excl_waiters > 0 -> skip  /* back off */
#endif
       :: else ->
          if
          :: sessions > 0 -> sessions++; got = true
          :: sessions == 0 && !res_excl && excl_waiters == 0 ->
               res_shared++; sessions = 1; got = true  /* owner: the counter */
          :: else -> skip
          fi
       fi
     };
     if
     :: got -> break
     :: else -> skip  /* retry after a back-off */
     fi
  :: break  /* timed out: nothing held */
  od
}

proctype Client() {
  bool got;
#ifdef LOOP
  do
  ::
#endif
  notify_begin(got);
  if
  :: got -> work ! BATCH; work ! END
  :: else -> skip
  fi
#ifdef LOOP
  od
#endif
}

proctype Worker() {
  mtype m;
end_idle:
  do
  :: work ? m ->
     if
     :: m == BATCH ->
#ifdef STARVE
        acquire_shared_starve_exclusive();
#else
        acquire_shared();
#endif
        /* resolve names to nodeids, queue invalidations */
        res_shared--
     :: m == END ->
        atomic {
          sessions--;
          if
          :: sessions == 0 -> res_shared--  /* release on behalf of the counter */
          :: else -> skip
          fi
        }
     fi
  od
}

proctype Renamer() {
  acquire_exclusive();
  /* rename in the file system, update the node table */
  res_excl = false;
  renamed = true
}

proctype NameOp() {
  acquire_shared();
  res_shared--;
  name_op_done = true
}

init {
  atomic {
    run Worker();
    run Client();
    run Client();
    run Renamer();
    run NameOp()
  }
}

/* Liveness: every rename eventually completes (check with -a -f). */
ltl rename_completes { <> renamed }
