/* mhd_stub.h: the resume half of libmicrohttpd's suspend/resume for the
 * drivers that run the server's request handlers in-process
 * (test_faults_server.c, fuzz/fuzz_server.c). The batcher resumes a
 * suspended request from its own thread; the driver waits for that with
 * mhd_wait_resumed(). Include it in one file of a program: it defines
 * MHD_resume_connection in place of the library's. */
#ifndef SAIL_TESTS_MHD_STUB_H
#define SAIL_TESTS_MHD_STUB_H

#include <microhttpd.h>
#include <pthread.h>

static pthread_mutex_t mhd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mhd_cv = PTHREAD_COND_INITIALIZER;
static int mhd_resumed; /* set by MHD_resume_connection; guarded by mhd_mu */

void MHD_resume_connection(struct MHD_Connection *c) {
    (void)c;
    pthread_mutex_lock(&mhd_mu);
    mhd_resumed = 1;
    pthread_cond_signal(&mhd_cv);
    pthread_mutex_unlock(&mhd_mu);
}

/* Blocks until MHD_resume_connection has been called, then clears it. */
static inline void mhd_wait_resumed(void) {
    pthread_mutex_lock(&mhd_mu);
    while (!mhd_resumed) pthread_cond_wait(&mhd_cv, &mhd_mu);
    mhd_resumed = 0;
    pthread_mutex_unlock(&mhd_mu);
}

#endif
