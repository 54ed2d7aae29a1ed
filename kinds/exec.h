#ifndef JOBD_EXEC_H
#define JOBD_EXEC_H

/*
 * exec: program kinds. A program kind is a struct jobd_kind whose run
 * function is exec_run() and whose data is a struct exec_spec; it runs one
 * program per job, as docs/kinds.md's "program contract" describes (argv from
 * a template without a shell, parameters in the environment, input on
 * stdin, result from stdout, the tail of stderr as the error, progress
 * lines on JOBD_PROGRESS_FD, SIGTERM then SIGKILL to its process group on
 * cancel, timeout and stop, a fresh private working directory, resource
 * limits).
 *
 * exec_init() must be called once before any thread starts: it starts the
 * reaper, a small process that kills every program still running when jobd
 * dies, SIGKILL included.
 */

#include <stddef.h>
#include <stdint.h>

#include <jobd/kind.h>

/* Defaults and ceilings of a kind file's settings. */
#define EXEC_DEFAULT_MAX_OUTPUT (1024 * 1024)     /* bytes of stdout */
#define EXEC_MAX_OUTPUT         (8 * 1024 * 1024) /* the most a kind may set */
#define EXEC_DEFAULT_GRACE_MS   5000
#define EXEC_STDERR_TAIL        4000 /* bytes of stderr kept as the error */
#define EXEC_PROGRESS_FD        3    /* JOBD_PROGRESS_FD */
#define EXEC_NO_RETRY_EXIT      100  /* exit status: failed, do not retry */
#define EXEC_PATH               "/usr/local/bin:/usr/bin:/bin"

/* Resource limits of a program (setrlimit); 0 = not set (inherited). */
struct exec_limits {
	uint64_t cpu_s;    /* RLIMIT_CPU, seconds */
	uint64_t as_bytes; /* RLIMIT_AS */
	uint64_t nofile;   /* RLIMIT_NOFILE */
	uint64_t nproc;    /* RLIMIT_NPROC (counts every process of the
	                      user, jobd's threads included) */
};

/*
 * How to run a program kind. Every string is malloc'd and owned by the
 * spec (exec_spec_free). The words of args are templates (template.h):
 * each becomes exactly one argument.
 */
struct exec_spec {
	char *program; /* absolute path of the executable */
	char **args;   /* template words: argv[1 ..] */
	size_t nargs;
	char **env; /* "NAME=VALUE" added to the program's environment */
	size_t nenv;
	char *kind_dir;      /* for {KIND_DIR} */
	uint64_t max_output; /* stdout bytes; more: the job fails */
	uint32_t grace_ms;   /* between SIGTERM and SIGKILL */
	struct exec_limits lim;
};

/*
 * Process-wide set-up, before any thread: run_dir is where each run gets
 * its private working directory (made by the first run that needs it;
 * what a killed jobd left in it is removed now: the directory is this
 * jobd's alone; NULL: $TMPDIR or
 * /tmp); starts the reaper. It also ignores SIGPIPE if it is at its
 * default (a program that closes its stdin must not end jobd) and resets
 * SIGCHLD to the default if ignored (programs must stay waitable). JOBD_OK
 * or an error described in err.
 */
int exec_init(const char *run_dir, char *err, size_t errlen);
/* Stops the reaper (after every program ended). Accepts no exec_init. */
void exec_fini(void);

/* The run function of every program kind (kind->data: struct exec_spec). */
int exec_run(jobd_job *job, const struct jobd_host *host);

void exec_spec_free(struct exec_spec *s);

#endif
