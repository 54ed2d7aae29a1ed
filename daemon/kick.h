#ifndef JOBD_KICK_H
#define JOBD_KICK_H

/*
 * kick: timer interrupts on every CPU while programs run, so that a woken
 * front thread never waits for the scheduler tick behind a program.
 *
 * One thread per CPU jobd may run on, pinned to it, asleep until the first
 * kick_hold(); then each sleeps KICK_US at a time until the last
 * kick_release(). See kick.c for why.
 */

#include <stddef.h>

typedef struct kick kick;

/* Starts the (idle) threads. JOBD_OK, or an error described in err. */
int kick_start(kick **kp, char *err, size_t errlen);
/* A program starts running / has ended. Any thread. */
void kick_hold(kick *k);
void kick_release(kick *k);
/* Joins the threads. Accepts NULL. */
void kick_stop(kick *k);

#endif
