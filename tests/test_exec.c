/*
 * Tests of program kinds (kinds/exec.c): small programs in sh, Python and
 * JavaScript, written to a temporary directory at test time and run
 * through the real host (kind_run) with a progress function of the test's
 * own. Each test sets program kinds up afresh (exec_init with a run
 * directory of its own, so that the working directories can be checked)
 * and tears them down (exec_fini).
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec.h"
#include "jobd_status.h"
#include "reaper.h"
#include "registry.h"
#include "run.h"
#include "test.h"
#include "workdir.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define MIB      (1024 * 1024)

extern char **environ;

static char base[256];    /* this test's directory */
static char run_dir[300]; /* exec_init's run directory, under base */

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void
cleanup(void)
{
	char err[512];

	exec_fini();
	if (base[0] != '\0' && workdir_remove(base, err, sizeof(err)) != 0)
		fprintf(stderr, "%s\n", err);
	base[0] = '\0';
}

/* A fresh base directory and program kinds set up on base/run. */
static void
begin(void)
{
	char err[512];

	cleanup(); /* after a test that stopped at a REQUIRE */
	snprintf(base, sizeof(base), "/tmp/test_exec-XXXXXX");
	REQUIRE(mkdtemp(base) != NULL);
	snprintf(run_dir, sizeof(run_dir), "%s/run", base);
	int rv = exec_init(run_dir, err, sizeof(err));
	if (rv != JOBD_OK)
		fprintf(stderr, "exec_init: %s\n", err);
	REQUIRE(rv == JOBD_OK);
}

/* An absolute path of an interpreter, or NULL when it is missing. */
static const char *
find_exe(const char *name)
{
	static char path[512];
	static const char *dirs[] = {"/usr/local/bin", "/usr/bin", "/bin"};

	for (size_t i = 0; i < NELEM(dirs); i++) {
		snprintf(path, sizeof(path), "%s/%s", dirs[i], name);
		if (access(path, X_OK) == 0)
			return path;
	}
	return NULL;
}

/* Writes an executable file base/name with text; its malloc'd path. */
static char *
script(const char *name, const char *text)
{
	char *path;
	FILE *f;

	REQUIRE(asprintf(&path, "%s/%s", base, name) > 0);
	REQUIRE((f = fopen(path, "w")) != NULL);
	fputs(text, f);
	REQUIRE(fclose(f) == 0);
	REQUIRE(chmod(path, 0755) == 0);
	return path;
}

/* A script whose first line runs interpreter `interp` (NULL: skipped). */
static char *
script_in(const char *interp, const char *name, const char *body)
{
	const char *exe = find_exe(interp);
	char *text, *path;

	if (exe == NULL) {
		fprintf(stderr, "  (no %s here: skipped)\n", interp);
		return NULL;
	}
	REQUIRE(asprintf(&text, "#!%s\n%s", exe, body) > 0);
	path = script(name, text);
	free(text);
	return path;
}

/* A spec for program (taken) with template words args. */
static struct exec_spec *
spec_new(char *program, const char *const *args, size_t nargs)
{
	struct exec_spec *s = calloc(1, sizeof(*s));

	REQUIRE(s != NULL && program != NULL);
	s->program = program;
	s->args = calloc(nargs + 1, sizeof(char *));
	for (size_t i = 0; i < nargs; i++)
		s->args[i] = strdup(args[i]);
	s->nargs = nargs;
	s->max_output = 2 * MIB;
	s->grace_ms = 2000;
	s->kind_dir = strdup(base);
	return s;
}

static void
spec_env(struct exec_spec *s, const char *entry)
{
	s->env = realloc(s->env, (s->nenv + 1) * sizeof(char *));
	s->env[s->nenv++] = strdup(entry);
}

static const struct jobd_param params[] = {
    {.name = "n",
     .type = JOBD_PARAM_INT,
     .min = 0,
     .max = 100,
     .def = "5",
     .desc = "a number"},
    {.name = "msg", .type = JOBD_PARAM_STRING, .max = 200, .desc = "text"},
    {.name = "opt", .type = JOBD_PARAM_STRING, .max = 200, .desc = "none"},
};

/* What the progress function saw; stop_after > 0: "stop" from call
 * stop_after + 1 on. */
struct prog {
	unsigned calls;
	unsigned stop_after;
	uint64_t done[32], total[32]; /* the distinct reports, in order */
	unsigned n;
	uint64_t stopped_at; /* now_ms() of the first "stop" */
};

static int
prog_cb(void *arg, uint64_t done, uint64_t total)
{
	struct prog *p = arg;

	p->calls++;
	if (p->n < NELEM(p->done) && (p->n == 0 || p->done[p->n - 1] != done ||
	                              p->total[p->n - 1] != total)) {
		p->done[p->n] = done;
		p->total[p->n] = total;
		p->n++;
	}
	if (p->stop_after > 0 && p->calls > p->stop_after) {
		if (p->stopped_at == 0)
			p->stopped_at = now_ms();
		return 1;
	}
	return 0;
}

/* Runs spec as kind "t" on job (whose result the caller frees). */
static int
run(struct exec_spec *spec, const struct job_param *jp, size_t njp,
    const void *input, size_t input_len, struct prog *p, struct jobd_job *job)
{
	static struct prog dummy;
	static struct jobd_kind kind;

	kind = (struct jobd_kind){.name = "t",
	                          .desc = "a test",
	                          .params = params,
	                          .nparams = NELEM(params),
	                          .uses_input = 1,
	                          .run = exec_run,
	                          .data = spec};
	memset(job, 0, sizeof(*job));
	job->kind = &kind;
	job->id = 42;
	job->attempt = 2;
	job->params = jp;
	job->nparams = njp;
	job->input = input;
	job->input_len = input_len;
	job->progress = prog_cb;
	job->progress_arg = p != NULL ? p : &dummy;
	return kind_run(job);
}

/* Runs spec expecting success; the result as a malloc'd string. */
static char *
run_ok(struct exec_spec *spec, const struct job_param *jp, size_t njp,
       const char *input)
{
	struct jobd_job job;
	int o =
	    run(spec, jp, njp, input, input ? strlen(input) : 0, NULL, &job);

	if (o != JOBD_RUN_OK)
		fprintf(stderr, "  error: %s\n", job.error);
	CHECK_EQ_INT(o, JOBD_RUN_OK);
	REQUIRE(o == JOBD_RUN_OK && job.result != NULL);
	return (char *) job.result;
}

/* The number of entries of directory path (-1: cannot read it). */
static int
dir_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Is pid a live process (a zombie counts as gone)? */
static bool
alive(pid_t pid)
{
	char path[64], buf[512];
	FILE *f;
	char *p;

	if (kill(pid, 0) != 0)
		return errno != ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (p == NULL || (p = strrchr(buf, ')')) == NULL)
		return false;
	return p[1] != '\0' && p[2] != 'Z';
}

/* Waits up to ms for pid to be gone; true if it is. */
static bool
gone_within(pid_t pid, unsigned ms)
{
	uint64_t until = now_ms() + ms;

	while (alive(pid)) {
		if (now_ms() > until)
			return false;
		usleep(10000);
	}
	return true;
}

/* Reaps child pid within ms; false if it is still running. */
static bool
wait_within(pid_t pid, unsigned ms, int *status)
{
	uint64_t until = now_ms() + ms;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return true;
		if (r < 0 || now_ms() > until)
			return false;
		usleep(10000);
	}
}

static pid_t
read_pid(const char *path)
{
	FILE *f = fopen(path, "r");
	int pid = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	return pid;
}

/* ---- the tests ---- */

/* Template words become exactly one argument each; parameters reach the
 * environment as JOBD_PARAM_<NAME> when they have a value. */
static void
test_params(void)
{
	static const char *args[] = {"{msg}", "n={n}", "{JOB_ID}-{ATTEMPT}", "",
	                             "{opt}"};
	struct job_param jp[] = {{(char *) "msg", (char *) "hello  world"}};
	struct exec_spec *s;
	char *res;

	begin();
	s = spec_new(script("p.sh", "#!/bin/sh\n"
	                            "echo \"$#\"\n"
	                            "printf '[%s]\\n' \"$@\"\n"
	                            "echo \"n=$JOBD_PARAM_N "
	                            "msg=$JOBD_PARAM_MSG "
	                            "opt=${JOBD_PARAM_OPT-unset} "
	                            "kind=$JOBD_KIND id=$JOBD_JOB_ID "
	                            "attempt=$JOBD_ATTEMPT\"\n"),
	             args, NELEM(args));
	res = run_ok(s, jp, NELEM(jp), NULL);
	CHECK_EQ_STR(res, "5\n[hello  world]\n[n=5]\n[42-2]\n[]\n[]\n"
	                  "n=5 msg=hello  world opt=unset kind=t id=42 "
	                  "attempt=2\n");
	free(res);
	exec_spec_free(s);
	cleanup();
}

/* stdin is the input, stdout the result, in three languages. */
static void
test_input_result(void)
{
	struct {
		const char *interp, *name, *body;
	} progs[] = {
	    {"sh", "up.sh", "tr a-z A-Z\n"},
	    {"python3", "up.py",
	     "import sys\nsys.stdout.write(sys.stdin.read().upper())\n"},
	    {"node", "up.js",
	     "const fs = require('fs');\n"
	     "process.stdout.write(fs.readFileSync(0, 'utf8')"
	     ".toUpperCase());\n"},
	};

	begin();
	for (size_t i = 0; i < NELEM(progs); i++) {
		char *path =
		    script_in(progs[i].interp, progs[i].name, progs[i].body);
		if (path == NULL)
			continue;
		struct exec_spec *s = spec_new(path, NULL, 0);
		char *res = run_ok(s, NULL, 0, "some input\nline two");
		CHECK_EQ_STR(res, "SOME INPUT\nLINE TWO");
		free(res);
		exec_spec_free(s);
	}
	/* no input: stdin is at end of file at once; empty result */
	struct exec_spec *s = spec_new(strdup("/bin/cat"), NULL, 0);
	char *res = run_ok(s, NULL, 0, NULL);
	CHECK_EQ_STR(res, "");
	free(res);
	exec_spec_free(s);
	cleanup();
}

/* 1 MiB in and 1 MiB out at once through cat; a program that writes all
 * its output before it reads its input; one that never reads it. */
static void
test_big_io(void)
{
	uint8_t *in = malloc(MIB);
	struct jobd_job job;
	struct exec_spec *s;
	int o;

	begin();
	REQUIRE(in != NULL);
	for (size_t i = 0; i < MIB; i++)
		in[i] = (uint8_t) (i * 7 + i / 4096);
	s = spec_new(strdup("/bin/cat"), NULL, 0);
	o = run(s, NULL, 0, in, MIB, NULL, &job);
	CHECK_EQ_INT(o, JOBD_RUN_OK);
	CHECK_EQ_INT(job.result_len, MIB);
	CHECK(job.result != NULL && memcmp(job.result, in, MIB) == 0);
	free(job.result);
	exec_spec_free(s);

	char *py = script_in("python3", "first.py",
	                     "import sys\n"
	                     "sys.stdout.buffer.write(b'x' * (1 << 20))\n"
	                     "sys.stdout.flush()\n"
	                     "data = sys.stdin.buffer.read()\n"
	                     "sys.stdout.write(' %d' % len(data))\n");
	if (py != NULL) {
		s = spec_new(py, NULL, 0);
		o = run(s, NULL, 0, in, MIB, NULL, &job);
		CHECK_EQ_INT(o, JOBD_RUN_OK);
		CHECK_EQ_INT(job.result_len, MIB + 8);
		CHECK(job.result != NULL &&
		      strcmp((char *) job.result + MIB, " 1048576") == 0);
		free(job.result);
		exec_spec_free(s);
	}

	s = spec_new(script("noread.sh", "#!/bin/sh\necho ignored\n"), NULL, 0);
	o = run(s, NULL, 0, in, MIB, NULL, &job);
	CHECK_EQ_INT(o, JOBD_RUN_OK);
	CHECK(job.result != NULL &&
	      strcmp((char *) job.result, "ignored\n") == 0);
	free(job.result);
	exec_spec_free(s);
	free(in);
	cleanup();
}

/* Progress lines on fd 3 reach the progress function; malformed ones are
 * ignored. */
static void
test_progress(void)
{
	struct {
		const char *interp, *name, *body;
	} progs[] = {
	    {"sh", "p.sh",
	     "[ \"$JOBD_PROGRESS_FD\" = 3 ] || exit 1\n"
	     "for i in 1 2 3; do echo \"$i 3\" >&3; sleep 0.05; done\n"
	     "echo 'bad line' >&3\n"
	     "echo '5 x' >&3\n"
	     "echo '-6 7' >&3\n"
	     "printf '8%80s\\n' '' >&3\n"
	     "echo 99999999999999999999999 >&3\n"
	     "echo 7 >&3\n"
	     "sleep 0.05\n"},
	    {"python3", "p.py",
	     "import os, time\n"
	     "for i in (1, 2, 3):\n"
	     "    os.write(3, b'%d 3\\n' % i)\n"
	     "    time.sleep(0.05)\n"
	     "os.write(3, b'bad line\\n5 x\\n-6 7\\n8' + b' ' * 80 + b'\\n')\n"
	     "os.write(3, b'7\\n')\n"
	     "time.sleep(0.05)\n"},
	    {"node", "p.js",
	     "const fs = require('fs');\n"
	     "const sleep = (ms) => Atomics.wait(new Int32Array(new "
	     "SharedArrayBuffer(4)), 0, 0, ms);\n"
	     "for (const i of [1, 2, 3]) { fs.writeSync(3, `${i} 3\\n`); "
	     "sleep(50); }\n"
	     "fs.writeSync(3, 'bad line\\n5 x\\n-6 7\\n8' + ' '.repeat(80) + "
	     "'\\n7\\n');\n"
	     "sleep(50);\n"},
	};

	begin();
	for (size_t i = 0; i < NELEM(progs); i++) {
		char *path =
		    script_in(progs[i].interp, progs[i].name, progs[i].body);
		if (path == NULL)
			continue;
		struct exec_spec *s = spec_new(path, NULL, 0);
		struct prog p = {0};
		struct jobd_job job;
		int o = run(s, NULL, 0, NULL, 0, &p, &job);
		CHECK_EQ_INT(o, JOBD_RUN_OK);
		if (o != JOBD_RUN_OK)
			fprintf(stderr, "  %s: %s\n", progs[i].name, job.error);
		/* (0, 0) until the first line (when a tick came before
		 * it), then each good line once */
		static const uint64_t want_done[] = {1, 2, 3, 7};
		static const uint64_t want_total[] = {3, 3, 3, 0};
		unsigned k0 = p.n > 0 && p.done[0] == 0 && p.total[0] == 0;
		CHECK_EQ_INT(p.n - k0, NELEM(want_done));
		for (unsigned k = 0; k + k0 < p.n && k < NELEM(want_done);
		     k++) {
			CHECK_EQ_INT(p.done[k + k0], want_done[k]);
			CHECK_EQ_INT(p.total[k + k0], want_total[k]);
		}
		/* called on every tick, not only on lines */
		CHECK(p.calls > p.n);
		free(job.result);
		exec_spec_free(s);
	}
	cleanup();
}

/* Failure: the exit status and the tail of stderr; 100 is final; a
 * signal is named. */
static void
test_failure(void)
{
	struct jobd_job job;
	struct exec_spec *s;
	int o;

	begin();
	s = spec_new(script("f.sh", "#!/bin/sh\necho out\necho first >&2\n"
	                            "echo 'boom: bad thing' >&2\nexit 3\n"),
	             NULL, 0);
	o = run(s, NULL, 0, NULL, 0, NULL, &job);
	CHECK_EQ_INT(o, JOBD_RUN_FAILED);
	CHECK_EQ_STR(job.error, "exit status 3: first\nboom: bad thing");
	CHECK(job.result == NULL);
	exec_spec_free(s);

	/* a long stderr: only its last EXEC_STDERR_TAIL bytes */
	s = spec_new(script("long.sh", "#!/bin/sh\nhead -c 20000 /dev/zero "
	                               "| tr '\\0' a >&2\necho ' END' >&2\n"
	                               "exit 1\n"),
	             NULL, 0);
	o = run(s, NULL, 0, NULL, 0, NULL, &job);
	CHECK_EQ_INT(o, JOBD_RUN_FAILED);
	CHECK(strncmp(job.error, "exit status 1: aaa", 18) == 0);
	CHECK(strlen(job.error) ==
	      strlen("exit status 1: ") + EXEC_STDERR_TAIL - 1);
	CHECK(strcmp(job.error + strlen(job.error) - 4, " END") == 0);
	exec_spec_free(s);

	s = spec_new(script("final.sh", "#!/bin/sh\necho 'no use' >&2\n"
	                                "exit 100\n"),
	             NULL, 0);
	o = run(s, NULL, 0, NULL, 0, NULL, &job);
	CHECK_EQ_INT(o, JOBD_RUN_FAILED_FINAL);
	CHECK_EQ_STR(job.error, "exit status 100: no use");
	exec_spec_free(s);

	s = spec_new(script("quiet.sh", "#!/bin/sh\nexit 7\n"), NULL, 0);
	o = run(s, NULL, 0, NULL, 0, NULL, &job);
	CHECK_EQ_INT(o, JOBD_RUN_FAILED);
	CHECK_EQ_STR(job.error, "exit status 7");
	exec_spec_free(s);

	s = spec_new(script("sig.sh", "#!/bin/sh\necho dying >&2\n"
	                              "kill -9 $$\n"),
	             NULL, 0);
	o = run(s, NULL, 0, NULL, 0, NULL, &job);
	CHECK_EQ_INT(o, JOBD_RUN_FAILED);
	CHECK_EQ_STR(job.error, "killed by signal 9 (SIGKILL): dying");
	exec_spec_free(s);

	s = spec_new(script("segv.sh", "#!/bin/sh\nkill -SEGV $$\n"), NULL, 0);
	o = run(s, NULL, 0, NULL, 0, NULL, &job);
	CHECK_EQ_INT(o, JOBD_RUN_FAILED);
	CHECK_EQ_STR(job.error, "killed by signal 11 (SIGSEGV)");
	exec_spec_free(s);
	cleanup();
}

/* Runs a program that writes its pid to base/pid and is stopped by the
 * progress function after a few calls. The outcome; *ms: from the stop to
 * the return. */
static int
run_stopped(const char *body, uint32_t grace_ms, uint64_t *ms, pid_t *pid)
{
	char *text, *pidfile;
	struct exec_spec *s;
	struct prog p = {.stop_after = 5};
	struct jobd_job job;
	int o;

	REQUIRE(asprintf(&pidfile, "%s/pid", base) > 0);
	(void) unlink(pidfile);
	REQUIRE(asprintf(&text, "#!/bin/sh\necho $$ > %s\n%s", pidfile, body) >
	        0);
	s = spec_new(script("stop.sh", text), NULL, 0);
	s->grace_ms = grace_ms;
	o = run(s, NULL, 0, NULL, 0, &p, &job);
	*ms = now_ms() - p.stopped_at;
	CHECK(p.stopped_at != 0);
	/* not called again once it said stop */
	CHECK_EQ_INT(p.calls, 6);
	*pid = read_pid(pidfile);
	free(job.result);
	exec_spec_free(s);
	free(text);
	free(pidfile);
	return o;
}

/* Stop: SIGTERM to the group, SIGKILL after the grace. */
static void
test_stop(void)
{
	uint64_t ms;
	pid_t pid;

	begin();
	/* ends on SIGTERM, children included */
	CHECK_EQ_INT(run_stopped("sleep 30 &\nsleep 30\n", 5000, &ms, &pid),
	             JOBD_RUN_STOPPED);
	CHECK(ms < 4000);
	CHECK(pid > 0 && !alive(pid));
	/* a handler that ends cleanly */
	CHECK_EQ_INT(run_stopped("trap 'exit 0' TERM\n"
	                         "while :; do sleep 0.01; done\n",
	                         5000, &ms, &pid),
	             JOBD_RUN_STOPPED);
	CHECK(ms < 4000);
	/* ignores SIGTERM (its children too): killed after the grace */
	CHECK_EQ_INT(run_stopped("trap '' TERM\nsleep 30 &\n"
	                         "while :; do sleep 0.01; done\n",
	                         300, &ms, &pid),
	             JOBD_RUN_STOPPED);
	CHECK(ms >= 290);
	CHECK(ms < 4000);
	CHECK(pid > 0 && !alive(pid));
	cleanup();
}

/* stdout over max_output: the group is killed and the job fails. */
static void
test_output_cap(void)
{
	static const char *args[] = {"-c", "1000", "/dev/zero"};
	struct jobd_job job;
	struct exec_spec *s;
	int o;

	begin();
	s = spec_new(strdup("/usr/bin/head"), args, NELEM(args));
	s->max_output = 1000;
	o = run(s, NULL, 0, NULL, 0, NULL, &job);
	CHECK_EQ_INT(o, JOBD_RUN_OK);
	CHECK_EQ_INT(job.result_len, 1000);
	free(job.result);
	s->max_output = 999;
	o = run(s, NULL, 0, NULL, 0, NULL, &job);
	CHECK_EQ_INT(o, JOBD_RUN_FAILED);
	CHECK_EQ_STR(job.error, "the output exceeded 999 bytes");
	exec_spec_free(s);

	/* endless output, while it ignores SIGTERM */
	uint64_t t0 = now_ms();
	s = spec_new(script("yes.sh", "#!/bin/sh\ntrap '' TERM\nexec yes\n"),
	             NULL, 0);
	s->max_output = 100000;
	o = run(s, NULL, 0, NULL, 0, NULL, &job);
	CHECK_EQ_INT(o, JOBD_RUN_FAILED);
	CHECK_EQ_STR(job.error, "the output exceeded 100000 bytes");
	CHECK(now_ms() - t0 < 5000);
	exec_spec_free(s);
	cleanup();
}

/* The environment holds only what the contract lists. */
static void
test_environment(void)
{
	static const char *want[] = {
	    "PATH=" EXEC_PATH,         "JOBD_JOB_ID=42",
	    "JOBD_ATTEMPT=2",          "JOBD_KIND=t",
	    "JOBD_PROGRESS_FD=3",      "JOBD_PARAM_N=5",
	    "JOBD_PARAM_MSG=hi there", "EXTRA=a=b",
	};
	struct job_param jp[] = {{(char *) "msg", (char *) "hi there"}};
	struct exec_spec *s;
	char *res, *line, *save;
	size_t n = 0;

	begin();
	setenv("TEST_EXEC_SECRET", "leaked", 1);
	s = spec_new(strdup("/usr/bin/env"), NULL, 0);
	spec_env(s, "EXTRA=a=b");
	res = run_ok(s, jp, NELEM(jp), NULL);
	for (line = strtok_r(res, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save), n++) {
		bool known = false;
		for (size_t i = 0; i < NELEM(want); i++)
			known = known || strcmp(line, want[i]) == 0;
		if (!known)
			TEST_FAIL_("unexpected in the environment: '%s'", line);
	}
	CHECK_EQ_INT(n, NELEM(want));
	free(res);
	/* the kind file's variables win over jobd's */
	spec_env(s, "PATH=/bin");
	res = run_ok(s, NULL, 0, NULL);
	CHECK(strstr(res, "PATH=/bin\n") != NULL);
	CHECK(strstr(res, "PATH=" EXEC_PATH) == NULL);
	free(res);
	unsetenv("TEST_EXEC_SECRET");
	exec_spec_free(s);
	cleanup();
}

/* Only 0-3 are open in the program, whatever jobd has open; the signal
 * dispositions and the mask are the defaults. The mask is read by the
 * program itself (grep of /proc/self/status), not by a shell on its behalf:
 * dash blocks signals of its own around the commands it runs. */
static void
test_descriptors_signals(void)
{
	static const char *args[] = {"-c", "ls /proc/$$/fd"};
	static const char *grep_args[] = {"-E", "^Sig(Blk|Ign)",
	                                  "/proc/self/status"};
	int leak = open("/dev/null", O_RDONLY); /* no O_CLOEXEC */
	int p[2];
	sigset_t block, old;
	struct sigaction ign = {.sa_handler = SIG_IGN}, old_usr1;
	struct exec_spec *s;
	char *res;

	begin();
	REQUIRE(leak >= 0 && pipe(p) == 0);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	REQUIRE(pthread_sigmask(SIG_BLOCK, &block, &old) == 0);
	REQUIRE(sigaction(SIGUSR1, &ign, &old_usr1) == 0);
	s = spec_new(strdup("/bin/sh"), args, NELEM(args));
	res = run_ok(s, NULL, 0, NULL);
	CHECK_EQ_STR(res, "0\n1\n2\n3\n");
	free(res);
	exec_spec_free(s);
	s = spec_new(strdup("/bin/grep"), grep_args, NELEM(grep_args));
	res = run_ok(s, NULL, 0, NULL);
	CHECK_EQ_STR(res, "SigBlk:\t0000000000000000\n"
	                  "SigIgn:\t0000000000000000\n");
	free(res);
	exec_spec_free(s);
	REQUIRE(sigaction(SIGUSR1, &old_usr1, NULL) == 0);
	REQUIRE(pthread_sigmask(SIG_SETMASK, &old, NULL) == 0);
	close(leak);
	close(p[0]);
	close(p[1]);
	cleanup();
}

/* A parameter made to look like shell code is one argument, and runs
 * nothing. */
static void
test_injection(void)
{
	static const char *args[] = {"{msg}", "{opt}"};
	struct job_param jp[] = {{(char *) "msg", (char *) "x; touch PWNED"},
	                         {(char *) "opt", (char *) "$(touch PWNED)"}};
	struct exec_spec *s;
	char *res, *path;

	begin();
	s = spec_new(script("inj.sh",
	                    "#!/bin/sh\nprintf '[%s]\\n' \"$@\"\n"
	                    "echo \"$JOBD_PARAM_MSG|$JOBD_PARAM_OPT\"\n"
	                    "ls\n"),
	             args, NELEM(args));
	res = run_ok(s, jp, NELEM(jp), NULL);
	CHECK_EQ_STR(res, "[x; touch PWNED]\n[$(touch PWNED)]\n"
	                  "x; touch PWNED|$(touch PWNED)\n");
	free(res);
	REQUIRE(asprintf(&path, "%s/PWNED", base) > 0);
	CHECK(access(path, F_OK) != 0);
	CHECK(access("PWNED", F_OK) != 0);
	free(path);
	exec_spec_free(s);
	cleanup();
}

/* A private directory per run: 0700, the program's cwd, gone afterwards
 * with whatever the program left (an unreadable subdirectory, symbolic
 * links, which are not followed). */
static void
test_workdir(void)
{
	struct exec_spec *s;
	char *res, *nl, *keep;
	struct stat st;

	begin();
	REQUIRE(asprintf(&keep, "%s/keep", base) > 0);
	REQUIRE(close(open(keep, O_CREAT | O_WRONLY, 0600)) == 0);
	char *text;
	REQUIRE(asprintf(&text,
	                 "#!/bin/sh\npwd\nstat -c %%a .\n"
	                 "touch here && test -f \"$PWD/here\" && echo ok\n"
	                 "mkdir -p sub/deep/er && echo x > sub/deep/f\n"
	                 "ln -s %s sub/deep/base && ln -s %s keeplink\n"
	                 "chmod 000 sub/deep/er sub\nchmod 500 .\n",
	                 base, keep) > 0);
	s = spec_new(script("wd.sh", text), NULL, 0);
	res = run_ok(s, NULL, 0, NULL);
	REQUIRE((nl = strchr(res, '\n')) != NULL);
	*nl = '\0';
	CHECK(strncmp(res, run_dir, strlen(run_dir)) == 0);
	CHECK(strstr(res, "/job-42-2-") != NULL);
	CHECK_EQ_STR(nl + 1, "700\nok\n");
	CHECK(stat(res, &st) != 0 && errno == ENOENT);
	CHECK_EQ_INT(dir_entries(run_dir), 0);
	CHECK(access(keep, F_OK) == 0);     /* the links were not followed */
	CHECK_EQ_INT(dir_entries(base), 3); /* run, keep, wd.sh */
	free(res);
	free(text);
	free(keep);
	exec_spec_free(s);
	cleanup();
}

/* Under valgrind? Its setrlimit(RLIMIT_NOFILE) only pretends (and
 * refuses a new hard limit), so that limit cannot reach a program. */
static bool
under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p != NULL && strstr(p, "vgpreload") != NULL;
}

/* Resource limits are set in the program. */
static void
test_limits(void)
{
	struct exec_spec *s;
	char *res, *nl;

	begin();
	s = spec_new(script("lim.sh", "#!/bin/sh\nulimit -n\n"
	                              "grep -E '^Max (cpu time|address space)' "
	                              "/proc/self/limits | tr -s ' '\n"),
	             NULL, 0);
	s->lim.nofile = under_valgrind() ? 0 : 64;
	s->lim.cpu_s = 100;
	s->lim.as_bytes = 1ULL << 32;
	res = run_ok(s, NULL, 0, NULL);
	REQUIRE((nl = strchr(res, '\n')) != NULL);
	if (!under_valgrind())
		CHECK(strncmp(res, "64\n", 3) == 0);
	CHECK_EQ_STR(nl + 1,
	             "Max cpu time 100 101 seconds \n"
	             "Max address space 4294967296 4294967296 bytes \n");
	free(res);
	exec_spec_free(s);

	/* CPU time: SIGXCPU at the limit */
	s = spec_new(script("spin.sh", "#!/bin/sh\nwhile :; do :; done\n"),
	             NULL, 0);
	s->lim.cpu_s = 1;
	struct jobd_job job;
	CHECK_EQ_INT(run(s, NULL, 0, NULL, 0, NULL, &job), JOBD_RUN_FAILED);
	CHECK_EQ_STR(job.error, "killed by signal 24 (SIGXCPU)");
	exec_spec_free(s);
	cleanup();
}

/* A program that cannot be run fails with a clear message. */
static void
test_missing_program(void)
{
	struct jobd_job job;
	struct exec_spec *s;
	char *path;

	begin();
	s = spec_new(strdup("/nonexistent/prog"), NULL, 0);
	CHECK_EQ_INT(run(s, NULL, 0, NULL, 0, NULL, &job), JOBD_RUN_FAILED);
	CHECK_EQ_STR(job.error, "cannot run '/nonexistent/prog': No such file "
	                        "or directory");
	exec_spec_free(s);

	path = script("noexec", "#!/bin/sh\necho hi\n");
	REQUIRE(chmod(path, 0644) == 0);
	s = spec_new(path, NULL, 0);
	CHECK_EQ_INT(run(s, NULL, 0, NULL, 0, NULL, &job), JOBD_RUN_FAILED);
	CHECK(strstr(job.error, "cannot run '") == job.error);
	CHECK(strstr(job.error, "noexec': Permission denied") != NULL);
	CHECK_EQ_INT(dir_entries(run_dir), 0);
	exec_spec_free(s);
	cleanup();
}

/* A program's children die with it: a background child still holding
 * stdout neither keeps the run going nor survives it. */
static void
test_stragglers(void)
{
	struct exec_spec *s;
	char *res;
	uint64_t t0 = now_ms();

	begin();
	s = spec_new(script("bg.sh", "#!/bin/sh\nsleep 300 &\necho $!\n"), NULL,
	             0);
	res = run_ok(s, NULL, 0, NULL);
	CHECK(now_ms() - t0 < 5000);
	pid_t pid = (pid_t) atoi(res);
	CHECK(pid > 0);
	CHECK(pid > 0 && gone_within(pid, 2000));
	free(res);
	exec_spec_free(s);
	cleanup();
}

/* jobd killed with SIGKILL in the middle of a run: the reaper kills the
 * program and its background child. */
static void
test_reaper_on_sigkill(void)
{
	char *fg, *bg, *text;
	pid_t child, pfg = 0, pbg = 0;
	int status;

	begin();
	exec_fini(); /* the child sets program kinds up itself */
	REQUIRE(asprintf(&fg, "%s/fg.pid", base) > 0);
	REQUIRE(asprintf(&bg, "%s/bg.pid", base) > 0);
	REQUIRE(asprintf(&text,
	                 "#!/bin/sh\nsleep 300 &\necho $! > %s.tmp\n"
	                 "mv %s.tmp %s\necho $$ > %s.tmp\nmv %s.tmp %s\n"
	                 "sleep 300\n",
	                 bg, bg, bg, fg, fg, fg) > 0);
	struct exec_spec *s = spec_new(script("r.sh", text), NULL, 0);
	fflush(NULL);
	REQUIRE((child = fork()) >= 0);
	if (child == 0) {
		char err[512];
		struct jobd_job job;
		if (exec_init(run_dir, err, sizeof(err)) != JOBD_OK)
			_exit(2);
		(void) run(s, NULL, 0, NULL, 0, NULL, &job);
		_exit(3);
	}
	for (uint64_t until = now_ms() + 10000; now_ms() < until;) {
		pfg = read_pid(fg);
		pbg = read_pid(bg);
		if (pfg > 0 && pbg > 0)
			break;
		usleep(10000);
	}
	CHECK(pfg > 0 && pbg > 0);
	CHECK(pfg > 0 && alive(pfg));
	CHECK(pbg > 0 && alive(pbg));
	REQUIRE(kill(child, SIGKILL) == 0);
	REQUIRE(waitpid(child, &status, 0) == child);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	CHECK(pfg > 0 && gone_within(pfg, 5000));
	CHECK(pbg > 0 && gone_within(pbg, 5000));
	/* when the reaper failed, end what it left (our own processes) */
	if (pfg > 0 && alive(pfg))
		(void) kill(pfg, SIGKILL);
	if (pbg > 0 && alive(pbg))
		(void) kill(pbg, SIGKILL);
	free(fg);
	free(bg);
	free(text);
	exec_spec_free(s);
	/* the dead child's working directory is left behind */
	cleanup();
}

/* The reaper on its own: a group still registered at end of file is
 * killed; one that was unregistered is never signalled. */
static void
test_reaper_protocol(void)
{
	char err[256];
	unsigned char msg[REAPER_MSG_SIZE];
	pid_t g[2];

	cleanup();
	for (int i = 0; i < 2; i++) {
		REQUIRE((g[i] = fork()) >= 0);
		if (g[i] == 0) {
			setpgid(0, 0);
			pause();
			_exit(0);
		}
		setpgid(g[i], g[i]);
	}
	REQUIRE(reaper_start(err, sizeof(err)) == 0);
	CHECK(reaper_start(err, sizeof(err)) != 0);
	for (int i = 0; i < 2; i++) {
		reaper_encode(msg, 1, g[i]);
		CHECK(write(reaper_fd(), msg, sizeof(msg)) == sizeof(msg));
	}
	CHECK(reaper_del(g[1]) == 0);
	reaper_stop();
	CHECK(reaper_fd() == -1);
	int status;
	CHECK(wait_within(g[0], 5000, &status));
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* still running: not signalled */
	CHECK(!wait_within(g[1], 100, &status));
	for (int i = 0; i < 2; i++) {
		(void) kill(g[i], SIGKILL);
		(void) waitpid(g[i], &status, 0);
	}
	CHECK(reaper_del(1) == -1 && errno == EBADF);
}

/* Many runs at once on several threads. */
struct par {
	struct exec_spec *spec;
	int id, ok;
};

static void *
par_main(void *arg)
{
	struct par *p = arg;
	char in[64];

	for (int i = 0; i < 20; i++) {
		struct jobd_job job;
		int n =
		    snprintf(in, sizeof(in), "thread %d run %d\n", p->id, i);
		memset(&job, 0, sizeof(job));
		struct jobd_kind k = {.name = "t",
		                      .params = params,
		                      .nparams = NELEM(params),
		                      .uses_input = 1,
		                      .run = exec_run,
		                      .data = p->spec};
		job.kind = &k;
		job.id = (uint64_t) (p->id * 100 + i);
		job.attempt = 1;
		job.input = (const uint8_t *) in;
		job.input_len = (size_t) n;
		if (kind_run(&job) == JOBD_RUN_OK &&
		    job.result_len == (size_t) n &&
		    memcmp(job.result, in, (size_t) n) == 0)
			p->ok++;
		free(job.result);
	}
	return NULL;
}

static void
test_parallel(void)
{
	pthread_t t[4];
	struct par p[4];
	struct exec_spec *s;

	begin();
	s = spec_new(strdup("/bin/cat"), NULL, 0);
	for (int i = 0; i < 4; i++) {
		p[i] = (struct par){s, i, 0};
		REQUIRE(pthread_create(&t[i], NULL, par_main, &p[i]) == 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ_INT(p[i].ok, 20);
	}
	CHECK_EQ_INT(dir_entries(run_dir), 0);
	exec_spec_free(s);
	cleanup();
}

/* The cost of a run of /bin/true against bare posix_spawn + waitpid, in
 * a small process and with 150 MB of touched memory. Prints, asserts only
 * that the runs succeed. */
static void
spawn_cost(const char *what)
{
	enum { N = 200 };
	struct exec_spec *s = spec_new(strdup("/bin/true"), NULL, 0);
	char *argv[] = {(char *) "/bin/true", NULL};
	uint64_t t0;
	int ok = 0;

	t0 = now_ms();
	for (int i = 0; i < N; i++) {
		struct jobd_job job;
		ok += run(s, NULL, 0, NULL, 0, NULL, &job) == JOBD_RUN_OK;
		free(job.result);
	}
	uint64_t t_run = now_ms() - t0;
	CHECK_EQ_INT(ok, N);

	ok = 0;
	t0 = now_ms();
	for (int i = 0; i < N; i++) {
		pid_t pid;
		int st;
		if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) ==
		        0 &&
		    waitpid(pid, &st, 0) == pid && st == 0)
			ok++;
	}
	uint64_t t_spawn = now_ms() - t0;
	CHECK_EQ_INT(ok, N);

	ok = 0;
	t0 = now_ms();
	for (int i = 0; i < N / 4; i++) {
		pid_t pid = fork();
		int st;
		if (pid == 0) {
			execve(argv[0], argv, environ);
			_exit(127);
		}
		if (pid > 0 && waitpid(pid, &st, 0) == pid && st == 0)
			ok++;
	}
	uint64_t t_fork = now_ms() - t0;
	CHECK_EQ_INT(ok, N / 4);
	fprintf(stderr,
	        "  %s: exec_run %.3f ms/run, posix_spawn+waitpid %.3f ms, "
	        "fork+exec+waitpid %.3f ms\n",
	        what, (double) t_run / N, (double) t_spawn / N,
	        (double) t_fork / (N / 4));
	exec_spec_free(s);
}

static void
test_spawn_cost(void)
{
	const size_t big = 150 * MIB;
	char *mem;

	begin();
	spawn_cost("small");
	mem = mmap(NULL, big, PROT_READ | PROT_WRITE,
	           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(mem != MAP_FAILED);
	memset(mem, 1, big);
	spawn_cost("150 MB");
	munmap(mem, big);
	cleanup();
}

/* Without exec_init, a run fails and says why. */
static void
test_not_set_up(void)
{
	struct jobd_job job;
	struct exec_spec *s;

	cleanup();
	s = spec_new(strdup("/bin/true"), NULL, 0);
	CHECK_EQ_INT(run(s, NULL, 0, NULL, 0, NULL, &job), JOBD_RUN_FAILED);
	CHECK_EQ_STR(job.error, "program kinds are not set up (exec_init)");
	exec_spec_free(s);
	exec_spec_free(NULL);
}

TEST_MAIN({"params", test_params}, {"input_result", test_input_result},
          {"big_io", test_big_io}, {"progress", test_progress},
          {"failure", test_failure}, {"stop", test_stop},
          {"output_cap", test_output_cap}, {"environment", test_environment},
          {"descriptors_signals", test_descriptors_signals},
          {"injection", test_injection}, {"workdir", test_workdir},
          {"limits", test_limits}, {"missing_program", test_missing_program},
          {"stragglers", test_stragglers},
          {"reaper_on_sigkill", test_reaper_on_sigkill},
          {"reaper_protocol", test_reaper_protocol},
          {"parallel", test_parallel}, {"not_set_up", test_not_set_up},
          {"spawn_cost", test_spawn_cost})
