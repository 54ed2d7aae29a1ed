#ifndef JOBCTL_H
#define JOBCTL_H

/*
 * jobctl's own header, not installed: what its files share. jobctl.c
 * holds main(), the command table, argument parsing and the commands of
 * the first version; jobctl_print.c the text of jobs and kinds, and the
 * JSON of replies; jobctl_sched.c the commands of delayed and periodic
 * jobs, dependencies,
 * pause and rerun (retry, pause, resume, schedules); jobctl_time.c the
 * TIME and DURATION they read.
 *
 * Functions that print an error return the process's exit status for it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jobd_client.h"

enum {
	EXIT_JOB = 1,      /* the job failed or was cancelled */
	EXIT_USAGE = 2,    /* bad arguments, or INVALID_ARGUMENT */
	EXIT_UNAVAIL = 3,  /* unreachable, or a deadline passed */
	EXIT_NOTFOUND = 4, /* NOT_FOUND */
	EXIT_OTHER = 5,    /* any other error */
};

struct jobctl;

struct cmd {
	const char *name;
	int (*fn)(struct jobctl *g, int argc, char **argv);
	const char *args;    /* usage after the command name */
	const char *summary; /* one line for the command list */
	const char *help;    /* the rest of `jobctl COMMAND --help` */
};

struct jobctl {
	const char *addr;
	bool json;
	uint32_t timeout_ms; /* 0 = the client's default */
	struct jobd_client_tls tls;
	const char *token_file; /* --token-file */
	bool open_failed;       /* then nng_fini() is not safe: see main() */
	jobd_client *client;
	const struct cmd *cmd;
};

/* ---- messages (jobctl.c) ---- */

/* "jobctl: MESSAGE" on stderr. */
void ctl_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The message, the command's usage line and a hint; EXIT_USAGE. */
int ctl_usage_error(const struct cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "jobctl: WHAT failed: CODE: message"; the exit status for rv. */
int ctl_call_failed(int rv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "jobctl: WHAT failed: malformed reply: ..." is said by the caller. */
#define ctl_malformed(...) (ctl_errorf(__VA_ARGS__), EXIT_OTHER)

/* ---- argument parsing (jobctl.c) ---- */

struct optspec {
	const char *name; /* without the leading "--" */
	bool arg;         /* takes a value */
};

enum { P_END = -1, P_ARG = -2, P_ERR = -3, P_STOP = -4 };

struct parser {
	int argc;
	char **argv;
	int i;
	bool rest;       /* after "--": everything is an argument */
	bool stop;       /* stop at the first argument, do not consume it */
	const char *val; /* the option's value, or the argument */
	const struct cmd *cmd;
};

/* Every command's options start with these two. */
// clang-format off
#define COMMON_OPTS {"help", false}, {"json", false}
// clang-format on
enum { O_HELP, O_JSON, O_FIRST };

/*
 * The next option of a command (its index in specs, p->val its value),
 * P_ARG for an argument (p->val) or P_END; --json is recorded, --help
 * printed. P_STOP means the command returns: *stop is -1 after --help,
 * EXIT_USAGE after a usage error (printed).
 */
int ctl_next_cmd_opt(struct jobctl *g, struct parser *p,
                     const struct optspec *specs, int *stop);
bool ctl_parse_u64(const char *s, uint64_t *out);
/* A job id: decimal, > 0. */
bool ctl_parse_id(const char *s, uint64_t *id);
/* One job id and the common options (and --timeout SEC when timeout_ms is
 * not NULL); 0, -1 after --help, or an exit status. */
int ctl_parse_one_id(struct jobctl *g, int argc, char **argv, uint64_t *id,
                     uint32_t *timeout_ms);
/* A command that takes only the common options: parses them and connects.
 * 0 to go on, -1 after --help, or an exit status. */
int ctl_start_plain(struct jobctl *g, int argc, char **argv);
/* Opens the client on first use; 0 or an exit status (message printed). */
int ctl_connect(struct jobctl *g);

/* ---- jobs and kinds as text and JSON (jobctl_print.c) ---- */

/* "queued", "scheduled", ...; "unknown" for a state this jobctl does not
 * know. */
const char *ctl_state_name(int st);
bool ctl_state_ended(int st);
/* The state named s, or -1. */
int ctl_parse_state(const char *s);
/* A string from the daemon, safe for a terminal: control characters
 * become '?', in place (the reply is ours); NULL is "". */
const char *ctl_tx(char *s);
int64_t ctl_now_ms(void);
/* A duration for people: 850ms, 3.2s, 12s, 4m05s, 2h03m, 3d04h. */
void ctl_fmt_dur(char *buf, size_t n, int64_t ms);
/* a - b, or 0 when that is negative or b is (hostile times). */
int64_t ctl_diff_ms(int64_t a, int64_t b);
/* "queued 12s", "running 3.2s", "took 2.1s", "runs in 5m00s". */
void ctl_fmt_age(char *buf, size_t n, const Jobd__V1__Job *j, int64_t now);
int ctl_percent(const Jobd__V1__Job *j);
/* One line per job (status, list). */
void ctl_print_job_line(Jobd__V1__Job *j, int64_t now);
/* The lines `status` adds under it: run at, after, reruns, unique key,
 * history; nothing when there is nothing to say. */
void ctl_print_job_detail(Jobd__V1__Job *j);
/* obj (its reference taken) as one line of compact JSON on stdout, with
 * jansson's flags added; m in the canonical JSON mapping (pbjson.h), one
 * line. 0, or EXIT_OTHER (said) when out of memory. */
int ctl_json_put(json_t *obj, size_t flags);
int ctl_json_msg(const ProtobufCMessage *m);
void ctl_print_kind(Jobd__V1__Kind *k);

/* ---- the scheduling commands (jobctl_sched.c) ---- */

/* submit --at TIME into *ms, --in DURATION into *ms, --after ID[,ID...]
 * appended to the malloc'd *ids (n of them); 0 or EXIT_USAGE (printed). */
int ctl_opt_at(const struct cmd *cmd, const char *val, int64_t *ms);
int ctl_opt_in(const struct cmd *cmd, const char *val, uint64_t *ms);
int ctl_opt_after(const struct cmd *cmd, const char *val, uint64_t **ids,
                  size_t *n);

int ctl_cmd_retry(struct jobctl *g, int argc, char **argv);
int ctl_cmd_pause(struct jobctl *g, int argc, char **argv);
int ctl_cmd_resume(struct jobctl *g, int argc, char **argv);
int ctl_cmd_schedules(struct jobctl *g, int argc, char **argv);

#endif
