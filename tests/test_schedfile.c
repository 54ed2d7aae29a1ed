/*
 * schedfile: *.schedule files, good and bad. Every error names the file
 * and the line of what is wrong; a directory with one bad file gives no
 * set at all; names, params and kinds are checked as Submit checks them.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobd_status.h"
#include "registry.h"
#include "schedfile.h"
#include "test.h"

static char dir[64];
static kindset *ks;

static void
setup(void)
{
	struct kinds_config kc = {0};
	char err[512];
	char cmd[128];

	if (dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		REQUIRE(system(cmd) == 0);
	}
	snprintf(dir, sizeof(dir), "/tmp/jobd-sf-XXXXXX");
	REQUIRE(mkdtemp(dir) != NULL);
	if (ks == NULL)
		REQUIRE(kindset_load(&ks, &kc, err, sizeof(err)) == JOBD_OK);
}

static void
put(const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, text, strlen(text)) == (ssize_t) strlen(text));
	close(fd);
}

static void
test_good(void)
{
	struct schedset *set;
	char err[2048];

	setup();
	put("nightly.schedule", "; a comment\n"
	                        "[schedule]\n"
	                        "kind = sleep\n"
	                        "cron = 30 3 * * *   ; inline comment\n"
	                        "time_zone = Europe/Paris\n"
	                        "catch_up = all\n"
	                        "priority = -5\n"
	                        "timeout = 10m\n"
	                        "max_attempts = 3\n"
	                        "[params]\n"
	                        "ms = 10\n");
	put("tick.schedule", "[schedule]\r\nkind: count\r\nevery = 1h30m\r\n"
	                     "[params]\r\n  n = 5\r\n");
	put("other.kind.txt", "not read");
	put(".hidden.schedule", "not read");
	REQUIRE(schedfile_load_dir(&set, dir, ks, err, sizeof(err)) == JOBD_OK);
	REQUIRE(set->n == 2);
	struct schedule *s = &set->v[0];
	CHECK_EQ_STR(s->name, "nightly");
	CHECK_EQ_STR(s->kind, "sleep");
	CHECK_EQ_STR(s->spec, "cron 30 3 * * *");
	CHECK_EQ_STR(s->time_zone, "Europe/Paris");
	CHECK_EQ_INT(s->catch_up, CATCH_UP_ALL);
	CHECK_EQ_INT(s->priority, -5);
	CHECK_EQ_INT(s->timeout_ms, 600000);
	CHECK_EQ_INT(s->max_attempts, 3);
	REQUIRE(s->nparams == 1);
	CHECK_EQ_STR(s->params[0].name, "ms");
	CHECK_EQ_STR(s->params[0].value, "10");
	CHECK(strstr(s->source, "/nightly.schedule") != NULL);
	s = &set->v[1];
	CHECK_EQ_STR(s->name, "tick");
	CHECK_EQ_STR(s->spec, "every 1h30m");
	CHECK_EQ_STR(s->time_zone, "");
	CHECK_EQ_INT(s->catch_up, CATCH_UP_ONE);
	CHECK_EQ_INT(cron_period(s->when), 5400);
	CHECK_EQ_INT(s->max_attempts, 0);
	schedset_free(set);

	/* no directory: no schedules */
	REQUIRE(schedfile_load_dir(&set, NULL, ks, err, sizeof(err)) ==
	        JOBD_OK);
	CHECK_EQ_INT(set->n, 0);
	schedset_free(set);
}

/* File `text` as x.schedule must be refused with `want` in the message
 * (which starts with its path and line). */
static void
bad(const char *text, const char *want)
{
	struct schedule s;
	char err[2048], path[128];

	put("x.schedule", text);
	snprintf(path, sizeof(path), "%s/x.schedule", dir);
	int rv = schedfile_load(&s, path, ks, err, sizeof(err));
	if (rv != JOBD_INVALID_ARGUMENT || strstr(err, want) == NULL ||
	    strncmp(err, path, strlen(path)) != 0)
		TEST_FAIL_("got %d '%s', wanted '%s'", rv, err, want);
	CHECK(s.name == NULL && s.when == NULL);
}

static void
test_errors(void)
{
	setup();
	bad("", "x.schedule:1: the file has no [schedule] section");
	bad("kind = sleep\n", ":1: 'kind' before any section");
	bad("[schedule]\nevery = 5m\n", ":1: [schedule] needs 'kind'");
	bad("[schedule]\nkind = sleep\n[params]\nms=1\n",
	    ":1: [schedule] needs 'cron' or 'every'");
	bad("[schedule]\nkind = sleep\ncron = * * * * *\nevery = 5m\n"
	    "[params]\nms = 1\n",
	    ":4: 'cron' and 'every' both given");
	bad("[schedule]\nkind = nope\nevery = 5m\n",
	    ":2: kind 'nope' is not defined");
	bad("[schedule]\nkind = sleep\nevery = 5m\n",
	    ":1: kind 'sleep' needs parameter 'ms'");
	bad("[schedule]\nkind = sleep\nevery = 5m\n[params]\n\nms = x\n",
	    ":6: parameter 'ms'");
	bad("[schedule]\nkind = sleep\nevery = 5m\n[params]\nms = 1\nzz = 2\n",
	    ":6: unknown parameter 'zz' for kind 'sleep'");
	bad("[schedule]\nkind = sleep\nevery = 5m\n[params]\nms = 1\nms = 2\n",
	    ":6: parameter 'ms' given twice (first at line 5)");
	bad("[schedule]\nkind = sleep\nevery = 5m\n[params]\nBad = 1\n",
	    ":5: bad parameter name 'Bad'");
	bad("[schedule]\nkind = sleep\ncron = 61 * * * *\n[params]\nms=1\n",
	    ":3: cron: minute: '61' is out of range 0-59");
	bad("[schedule]\nkind = sleep\ncron = 0 0 30 2 *\n[params]\nms=1\n",
	    ":3: cron: day-of-month: '30' is in none of the months");
	bad("[schedule]\nkind = sleep\nevery = 0s\n[params]\nms=1\n",
	    ":3: every: '0s'");
	bad("[schedule]\nkind = sleep\nevery = 5m\ntime_zone = UTC\n"
	    "[params]\nms=1\n",
	    ":4: 'time_zone' is for 'cron' only");
	bad("[schedule]\nkind = sleep\ncron = @daily\ntime_zone = Moon/Base\n"
	    "[params]\nms=1\n",
	    ":4: time_zone: unknown time zone 'Moon/Base'");
	bad("[schedule]\nkind = sleep\ncron = @daily\n"
	    "time_zone = ../../etc/passwd\n[params]\nms=1\n",
	    ":4: time_zone: bad time zone name");
	bad("[schedule]\nkind = sleep\nevery = 5m\ncatch_up = some\n"
	    "[params]\nms=1\n",
	    ":4: 'catch_up' is one, all or none, not 'some'");
	bad("[schedule]\nkind = sleep\nevery = 5m\npriority = 1e9\n"
	    "[params]\nms=1\n",
	    ":4: 'priority' is not a whole number");
	bad("[schedule]\nkind = sleep\nevery = 5m\npriority = 4294967296\n"
	    "[params]\nms=1\n",
	    ":4: 'priority'");
	bad("[schedule]\nkind = sleep\nevery = 5m\ntimeout = 10x\n"
	    "[params]\nms=1\n",
	    ":4: 'timeout' is not a duration");
	bad("[schedule]\nkind = sleep\nevery = 5m\nmax_attempts = 101\n"
	    "[params]\nms=1\n",
	    ":4: 'max_attempts' is a number from 1 to 100");
	bad("[schedule]\nkind = sleep\nevery = 5m\nfoo = 1\n[params]\nms=1\n",
	    ":4: unknown key 'foo' in [schedule]");
	bad("[schedule]\nkind = sleep\nkind = sleep\nevery = 5m\n",
	    ":3: 'kind' given twice in [schedule] (first at line 2)");
	bad("[schedule]\nkind = sleep\n[schedule]\n",
	    ":3: section [schedule] given twice (first at line 1)");
	bad("[schedule]\nkind = sleep\nevery = 5m\n[param]\n",
	    ":4: unknown section '[param]'");
	bad("[schedule\n", ":1: section header without ']'");
	bad("[schedule] x\n", ":1: text after the section header's ']'");
	bad("[schedule]\nkind = sleep\njust words\n",
	    ":3: expected 'key = value'");
	bad("[schedule]\nkind = sl\x01"
	    "eep\n",
	    ":2: control character 0x01");
	char big[1200];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	char text[1400];
	snprintf(text, sizeof(text), "[schedule]\nkind = %s\n", big);
	bad(text, ":2: line longer than");
	/* many errors, sorted by line */
	bad("[schedule]\nkind = nope\nevery = 0s\ncatch_up = x\n",
	    ":2: kind 'nope' is not defined (jobd --check-kinds lists the "
	    "kinds)\n");
	bad("[schedule]\nkind = nope\nevery = 0s\ncatch_up = x\n",
	    ":3: every: '0s'");
}

static void
test_names_and_dir(void)
{
	struct schedset *set;
	char err[4096], name[128];

	setup();
	/* 64 characters is the longest name */
	memset(name, 'n', 64);
	strcpy(name + 64, ".schedule");
	put(name, "[schedule]\nkind = sleep\nevery = 1m\n[params]\nms = 1\n");
	REQUIRE(schedfile_load_dir(&set, dir, ks, err, sizeof(err)) == JOBD_OK);
	CHECK_EQ_INT(set->n, 1);
	CHECK_EQ_INT(strlen(set->v[0].name), 64);
	schedset_free(set);
	memset(name, 'n', 65);
	strcpy(name + 65, ".schedule");
	put(name, "[schedule]\nkind = sleep\nevery = 1m\n[params]\nms = 1\n");
	put("a b.schedule", "[schedule]\nkind = sleep\nevery = 1m\n"
	                    "[params]\nms = 1\n");
	put("good.schedule", "[schedule]\nkind = sleep\nevery = 1m\n"
	                     "[params]\nms = 1\n");
	CHECK(schedfile_load_dir(&set, dir, ks, err, sizeof(err)) ==
	      JOBD_INVALID_ARGUMENT);
	CHECK(set == NULL);
	CHECK(strstr(err, "/a b.schedule:1: bad schedule name 'a b'") != NULL);
	CHECK(strstr(err, "nnnnn.schedule:1: bad schedule name") != NULL);
	CHECK(strstr(err, "good") == NULL);
	/* a directory named *.schedule */
	char path[128];
	snprintf(path, sizeof(path), "%s/d.schedule", dir);
	REQUIRE(mkdir(path, 0755) == 0);
	CHECK(schedfile_load_dir(&set, dir, ks, err, sizeof(err)) ==
	      JOBD_INVALID_ARGUMENT);
	CHECK(strstr(err, "/d.schedule:1: not a regular file") != NULL);
	CHECK(schedfile_load_dir(&set, "/nonexistent-dir", ks, err,
	                         sizeof(err)) == JOBD_INVALID_ARGUMENT);
	CHECK(strstr(err, "cannot read kinds directory") != NULL);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
	dir[0] = '\0';
	kindset_unref(ks);
	ks = NULL;
}

TEST_MAIN({"good", test_good}, {"errors", test_errors},
          {"names_and_dir", test_names_and_dir})
