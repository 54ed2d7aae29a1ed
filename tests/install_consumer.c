/*
 * A program outside the project that uses the installed client library, as
 * a user would: built by tests/test_install.sh against `cmake --install`'s
 * output, once through find_package(jobd) and once through pkg-config.
 *
 *   install_consumer ADDR   submits primes limit=1000, waits, prints 168
 */
#include <stdio.h>

#include <jobd_client.h>

int
main(int argc, char **argv)
{
	jobd_client *c = NULL;
	Jobd__V1__SubmitRequest req = JOBD__V1__SUBMIT_REQUEST__INIT;
	Jobd__V1__SubmitRequest__ParamsEntry limit =
	    JOBD__V1__SUBMIT_REQUEST__PARAMS_ENTRY__INIT;
	Jobd__V1__SubmitRequest__ParamsEntry *params[] = {&limit};
	Jobd__V1__SubmitReply *sub = NULL;
	Jobd__V1__WaitReply *w = NULL;
	char key[33];
	int rv, rc = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: install_consumer ADDR\n");
		return 2;
	}
	if ((rv = jobd_client_open(&c, argv[1])) != JOBD_OK) {
		fprintf(stderr, "open: %s\n", jobd_client_errmsg());
		return 1;
	}
	limit.key = "limit";
	limit.value = "1000";
	req.kind = "primes";
	req.params = params;
	req.n_params = 1;
	jobd_new_key(key);
	req.idempotency_key = key;
	if ((rv = jobd_submit(c, &req, &sub)) != JOBD_OK) {
		fprintf(stderr, "submit: %s: %s\n", jobd_status_name(rv),
		        jobd_client_errmsg());
		goto out;
	}
	if ((rv = jobd_wait(c, sub->job->id, 10000, &w)) != JOBD_OK) {
		fprintf(stderr, "wait: %s: %s\n", jobd_status_name(rv),
		        jobd_client_errmsg());
		goto out;
	}
	if (w->job->state == JOBD__V1__JOB_STATE__JOB_STATE_SUCCEEDED) {
		printf("%.*s\n", (int) w->job->result.len,
		       (const char *) w->job->result.data);
		rc = 0;
	}
out:
	if (w != NULL)
		jobd__v1__wait_reply__free_unpacked(w, NULL);
	if (sub != NULL)
		jobd__v1__submit_reply__free_unpacked(sub, NULL);
	jobd_client_close(c);
	return rc;
}
