/*
 * cluster_load: the client side of the cluster tests (tests/test_cluster.sh,
 * tests/test_cluster_stress.sh), through the C client library against real
 * daemons that share one queue.
 *
 *   cluster_load submit [options] ACKS ADDR...
 *       submits -n N jobs (default 5000) in SubmitBatch calls of -b B jobs
 *       (default 50), each job with the idempotency key PREFIX-NNNNNN (-k,
 *       default "job"), the batches going round the addresses in turn, -p
 *       MS apart (default 0). A batch that fails (a daemon killed, the
 *       database away: UNAVAILABLE, a deadline) is sent again, same keys,
 *       to the next address, until it is acknowledged or -t SEC (default
 *       120) have passed. Every acknowledged job is appended to ACKS as
 *       "KEY ID" as soon as its batch is: a key acknowledged twice must
 *       come back with the same id, or this fails. The job: -j "KIND
 *       NAME=VALUE..." (default "sleep ms=20").
 *   cluster_load check [-w SEC] ACKS ADDR...
 *       reads ACKS and, through the first address that answers, Gets every
 *       job in it until all have ended (up to -w SEC, default 120): each
 *       must be there (none lost) and have succeeded. Prints
 *       "check: N acknowledged, N succeeded, R re-run (attempts > 1), most
 *       attempts A" and exits 0, or names what is wrong and exits 1.
 *
 * Exit status: 0 done, 1 a check failed or the time ran out, 2 usage.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jobd_client.h"

#define MAX_ADDRS  16
#define MAX_PARAMS 8

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
usage(void)
{
	fprintf(stderr,
	        "usage: cluster_load submit [-n N] [-b B] [-p MS] [-k PREFIX] "
	        "[-t SEC] [-j 'KIND N=V...'] ACKS ADDR...\n"
	        "       cluster_load check [-w SEC] ACKS ADDR...\n");
	exit(2);
}

struct clients {
	jobd_client *c[MAX_ADDRS];
	const char *addr[MAX_ADDRS];
	int64_t down_until[MAX_ADDRS]; /* left alone until then (ms) */
	int n;
};

/* The address to try after `at`: the next one not left alone after a
 * failure, or simply the next when all are. */
static int
clients_next(const struct clients *cs, int at)
{
	int64_t now = now_ms();
	for (int k = 1; k <= cs->n; k++) {
		int i = (at + k) % cs->n;
		if (cs->down_until[i] <= now)
			return i;
	}
	return (at + 1) % cs->n;
}

/* The client of address i, opened now if it is not yet (a daemon down
 * when the program started); NULL if it cannot be. */
static jobd_client *
client_of(struct clients *cs, int i)
{
	if (cs->c[i] == NULL) {
		if (jobd_client_open(&cs->c[i], cs->addr[i]) != JOBD_OK) {
			cs->c[i] = NULL;
			return NULL;
		}
		jobd_client_set_timeout(cs->c[i], 3000);
	}
	return cs->c[i];
}

static void
clients_open(struct clients *cs, char **addrs, int n)
{
	if (n < 1 || n > MAX_ADDRS)
		usage();
	cs->n = n;
	for (int i = 0; i < n; i++) {
		cs->addr[i] = addrs[i];
		cs->c[i] = NULL;
		cs->down_until[i] = 0;
		(void) client_of(cs, i);
	}
}

static void
clients_close(struct clients *cs)
{
	for (int i = 0; i < cs->n; i++)
		jobd_client_close(cs->c[i]);
}

/* The acknowledged ids by key index (0 = none yet). */
static uint64_t *acked;

static int
submit_main(int argc, char **argv)
{
	int n = 5000, b = 50, pace = 0, secs = 120, opt, rv = 1;
	const char *prefix = "job", *job = "sleep ms=20";
	char spec[512], *kind, *tok, *save = NULL;
	Jobd__V1__SubmitRequest__ParamsEntry ents[MAX_PARAMS],
	    *eptrs[MAX_PARAMS];
	size_t nparams = 0;
	struct clients cs = {.n = 0};
	Jobd__V1__SubmitRequest *subs = NULL, **ptrs = NULL;
	char(*keys)[64] = NULL;
	FILE *out;

	while ((opt = getopt(argc, argv, "n:b:p:k:t:j:")) != -1) {
		switch (opt) {
		case 'n':
			n = atoi(optarg);
			break;
		case 'b':
			b = atoi(optarg);
			break;
		case 'p':
			pace = atoi(optarg);
			break;
		case 'k':
			prefix = optarg;
			break;
		case 't':
			secs = atoi(optarg);
			break;
		case 'j':
			job = optarg;
			break;
		default:
			usage();
		}
	}
	if (n < 1 || b < 1 || b > 1000 || argc - optind < 2)
		usage();
	snprintf(spec, sizeof(spec), "%s", job);
	if ((kind = strtok_r(spec, " ", &save)) == NULL)
		usage();
	while ((tok = strtok_r(NULL, " ", &save)) != NULL &&
	       nparams < MAX_PARAMS) {
		char *eq = strchr(tok, '=');
		if (eq == NULL)
			usage();
		*eq = '\0';
		jobd__v1__submit_request__params_entry__init(&ents[nparams]);
		ents[nparams].key = tok;
		ents[nparams].value = eq + 1;
		eptrs[nparams] = &ents[nparams];
		nparams++;
	}
	if ((out = fopen(argv[optind], "a")) == NULL) {
		fprintf(stderr, "cluster_load: cannot open '%s': %s\n",
		        argv[optind], strerror(errno));
		return 1;
	}
	clients_open(&cs, argv + optind + 1, argc - optind - 1);
	acked = calloc((size_t) n, sizeof(*acked));
	subs = calloc((size_t) b, sizeof(*subs));
	ptrs = calloc((size_t) b, sizeof(*ptrs));
	keys = calloc((size_t) b, sizeof(*keys));
	if (acked == NULL || subs == NULL || ptrs == NULL || keys == NULL)
		goto out;

	int64_t end = now_ms() + (int64_t) secs * 1000;
	int at = cs.n - 1, resent = 0, acks = 0;
	for (int first = 0; first < n; first += b) {
		int m = first + b <= n ? b : n - first;
		Jobd__V1__SubmitBatchRequest req =
		    JOBD__V1__SUBMIT_BATCH_REQUEST__INIT;
		for (int i = 0; i < m; i++) {
			jobd__v1__submit_request__init(&subs[i]);
			snprintf(keys[i], sizeof(keys[i]), "%s-%06d", prefix,
			         first + i);
			subs[i].kind = kind;
			subs[i].n_params = nparams;
			subs[i].params = eptrs;
			subs[i].idempotency_key = keys[i];
			ptrs[i] = &subs[i];
		}
		req.n_jobs = (size_t) m;
		req.jobs = ptrs;
		for (int tries = 0;; tries++) {
			Jobd__V1__SubmitBatchReply *rep = NULL;
			at = clients_next(&cs, at);
			jobd_client *c = client_of(&cs, at);
			int st = c == NULL ? JOBD_UNAVAILABLE
			                   : jobd_submit_batch(c, &req, &rep);
			if (st == JOBD_OK && rep->n_jobs == (size_t) m) {
				for (int i = 0; i < m; i++) {
					uint64_t id =
					    rep->jobs[i]->job != NULL
					        ? rep->jobs[i]->job->id
					        : 0;
					uint64_t *was = &acked[first + i];
					if (id == 0 ||
					    (*was != 0 && *was != id)) {
						fprintf(
						    stderr,
						    "cluster_load: key %s: id "
						    "%llu, acknowledged before "
						    "as %llu\n",
						    keys[i],
						    (unsigned long long) id,
						    (unsigned long long) *was);
						jobd__v1__submit_batch_reply__free_unpacked(
						    rep, NULL);
						goto out;
					}
					*was = id;
					fprintf(out, "%s %llu\n", keys[i],
					        (unsigned long long) id);
				}
				fflush(out);
				acks += m;
				jobd__v1__submit_batch_reply__free_unpacked(
				    rep, NULL);
				break;
			}
			if (rep != NULL)
				jobd__v1__submit_batch_reply__free_unpacked(
				    rep, NULL);
			if (now_ms() > end) {
				fprintf(stderr,
				        "cluster_load: batch at %s-%06d not "
				        "acknowledged in %d s (last: %s: %s)\n",
				        prefix, first, secs, cs.addr[at],
				        jobd_client_errmsg());
				goto out;
			}
			resent++;
			cs.down_until[at] = now_ms() + 2000;
			if ((tries + 1) % cs.n == 0)
				usleep(100000);
		}
		if (pace > 0)
			usleep((useconds_t) pace * 1000);
	}
	printf("submit: %d acknowledged, %d batches re-sent\n", acks, resent);
	rv = 0;
out:
	fclose(out);
	clients_close(&cs);
	free(subs);
	free(ptrs);
	free(keys);
	free(acked);
	return rv;
}

struct ack {
	char key[64];
	uint64_t id;
	int state;
	uint32_t attempts;
};

static int
check_main(int argc, char **argv)
{
	int secs = 120, opt, rv = 1;
	struct ack *acks = NULL;
	size_t n = 0, cap = 0;
	char line[256];
	struct clients cs = {.n = 0};
	FILE *in;

	while ((opt = getopt(argc, argv, "w:")) != -1) {
		if (opt != 'w')
			usage();
		secs = atoi(optarg);
	}
	if (argc - optind < 2)
		usage();
	if ((in = fopen(argv[optind], "r")) == NULL) {
		fprintf(stderr, "cluster_load: cannot open '%s': %s\n",
		        argv[optind], strerror(errno));
		return 1;
	}
	while (fgets(line, sizeof(line), in) != NULL) {
		unsigned long long id;
		char key[64];
		if (sscanf(line, "%63s %llu", key, &id) != 2)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			acks = realloc(acks, cap * sizeof(*acks));
			if (acks == NULL)
				return 1;
		}
		memset(&acks[n], 0, sizeof(acks[n]));
		snprintf(acks[n].key, sizeof(acks[n].key), "%s", key);
		acks[n++].id = id;
	}
	fclose(in);
	clients_open(&cs, argv + optind + 1, argc - optind - 1);

	int64_t end = now_ms() + (int64_t) secs * 1000;
	size_t live, missing;
	int at = 0;
	for (;;) {
		live = missing = 0;
		for (size_t first = 0; first < n;) {
			uint64_t ids[500];
			size_t m = 0;
			for (; first + m < n && m < 500; m++)
				ids[m] = acks[first + m].id;
			Jobd__V1__GetReply *g = NULL;
			jobd_client *c = client_of(&cs, at);
			if (c == NULL || jobd_get(c, ids, m, &g) != JOBD_OK) {
				at = (at + 1) % cs.n; /* another daemon */
				if (now_ms() > end)
					goto timeout;
				usleep(100000);
				continue;
			}
			for (size_t i = 0; i < m; i++)
				acks[first + i].state = 0;
			for (size_t j = 0; j < g->n_jobs; j++)
				for (size_t i = 0; i < m; i++)
					if (acks[first + i].id ==
					    g->jobs[j]->id) {
						acks[first + i].state =
						    g->jobs[j]->state;
						acks[first + i].attempts =
						    g->jobs[j]->attempts;
					}
			jobd__v1__get_reply__free_unpacked(g, NULL);
			first += m;
		}
		for (size_t i = 0; i < n; i++) {
			int st = acks[i].state;
			if (st == 0)
				missing++;
			else if (st == JOBD__V1__JOB_STATE__JOB_STATE_QUEUED ||
			         st == JOBD__V1__JOB_STATE__JOB_STATE_RUNNING)
				live++;
		}
		if (live == 0 || missing > 0 || now_ms() > end)
			break;
		usleep(200000);
	}
	size_t ok = 0, rerun = 0, told = 0;
	uint32_t most = 0;
	for (size_t i = 0; i < n; i++) {
		if (acks[i].state == JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED)
			ok++;
		else if (told++ < 10)
			fprintf(stderr, "cluster_load: %s (job %llu): %s\n",
			        acks[i].key, (unsigned long long) acks[i].id,
			        acks[i].state == 0 ? "lost (not found)"
			                           : "not succeeded");
		if (acks[i].attempts > 1)
			rerun++;
		if (acks[i].attempts > most)
			most = acks[i].attempts;
	}
	printf("check: %zu acknowledged, %zu succeeded, %zu re-run (attempts "
	       "> 1), most attempts %u; %zu lost, %zu not ended\n",
	       n, ok, rerun, most, missing, live);
	rv = ok == n ? 0 : 1;
	goto out;
timeout:
	fprintf(stderr, "cluster_load: no daemon answered a Get in %d s\n",
	        secs);
out:
	clients_close(&cs);
	free(acks);
	return rv;
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "submit") == 0)
		return submit_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "check") == 0)
		return check_main(argc - 1, argv + 1);
	usage();
}
