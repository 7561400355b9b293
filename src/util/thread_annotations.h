// Clang's thread-safety analysis (-Wthread-safety): attributes that name the
// lock guarding a field and what a function needs or does with a lock, so
// that the compiler checks what "guarded by mutex_" and "REQUIRES: ..."
// comments only promise. Under other compilers they expand to nothing.
//
// The vocabulary is clang's "capability" one: a capability is anything a
// thread holds (a mutex, the rename resource); GUARDED_BY(c) fields may be
// touched only while c is held (shared for reads, exclusive for writes);
// REQUIRES(c) functions are called only with c held; ACQUIRE/RELEASE
// functions change what the caller holds; a SCOPED_CAPABILITY object holds
// what its constructor acquired until it is destroyed.
//
// The analysis follows one function at a time and knows nothing of owners
// other than threads. Where a lock moves between threads or objects it
// cannot follow (a Resource handed to a token, a guard inside std::optional),
// say so with NO_THREAD_SAFETY_ANALYSIS or ASSERT_CAPABILITY and a comment.
#pragma once

#if defined(__clang__)
#define LINFSP_THREAD_ATTRIBUTE(x) __attribute__((x))
#else
#define LINFSP_THREAD_ATTRIBUTE(x)
#endif

// On a class: its objects are capabilities; `kind` names them in messages.
#define CAPABILITY(kind) LINFSP_THREAD_ATTRIBUTE(capability(kind))
// On a class: an RAII object that holds what its constructor acquired.
#define SCOPED_CAPABILITY LINFSP_THREAD_ATTRIBUTE(scoped_lockable)

// On a field: touched only with `c` held (reads: shared suffices).
#define GUARDED_BY(c) LINFSP_THREAD_ATTRIBUTE(guarded_by(c))
// On a pointer field: what it points at is touched only with `c` held.
#define PT_GUARDED_BY(c) LINFSP_THREAD_ATTRIBUTE(pt_guarded_by(c))

// On a capability field: the lock order (checked only by -Wthread-safety-beta).
#define ACQUIRED_BEFORE(...) LINFSP_THREAD_ATTRIBUTE(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) LINFSP_THREAD_ATTRIBUTE(acquired_after(__VA_ARGS__))

// On a function: the caller holds these (exclusive / at least shared).
#define REQUIRES(...) LINFSP_THREAD_ATTRIBUTE(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) LINFSP_THREAD_ATTRIBUTE(requires_shared_capability(__VA_ARGS__))
// On a function: the caller must not hold these (it takes them itself).
#define EXCLUDES(...) LINFSP_THREAD_ATTRIBUTE(locks_excluded(__VA_ARGS__))

// On a function: it acquires / releases these (no argument: `this`).
#define ACQUIRE(...) LINFSP_THREAD_ATTRIBUTE(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) LINFSP_THREAD_ATTRIBUTE(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) LINFSP_THREAD_ATTRIBUTE(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) LINFSP_THREAD_ATTRIBUTE(release_shared_capability(__VA_ARGS__))
// Releases whatever mode the caller holds.
#define RELEASE_GENERIC(...) LINFSP_THREAD_ATTRIBUTE(release_generic_capability(__VA_ARGS__))
// Acquires when it returns `success` (the first argument).
#define TRY_ACQUIRE(...) LINFSP_THREAD_ATTRIBUTE(try_acquire_capability(__VA_ARGS__))
#define TRY_ACQUIRE_SHARED(...) LINFSP_THREAD_ATTRIBUTE(try_acquire_shared_capability(__VA_ARGS__))

// On a function: after it returns, the caller is known to hold these (it
// checks, or the caller's logic guarantees it).
#define ASSERT_CAPABILITY(c) LINFSP_THREAD_ATTRIBUTE(assert_capability(c))
#define ASSERT_SHARED_CAPABILITY(c) LINFSP_THREAD_ATTRIBUTE(assert_shared_capability(c))
// On a getter: the reference it returns is the capability `c`.
#define RETURN_CAPABILITY(c) LINFSP_THREAD_ATTRIBUTE(lock_returned(c))

// On a function: not analysed. Every use says why in a comment.
#define NO_THREAD_SAFETY_ANALYSIS LINFSP_THREAD_ATTRIBUTE(no_thread_safety_analysis)
