/* dist_mpi.c: the MPI transport of data-parallel `sail train` and sharded
 * `sail index add` (cli/ranks.h), built only by `make MPI=1`. Collectives
 * that only move bytes (the sums are libsail's, in rank order: see
 * src/train/dist.h), waited for by polling. */
#include "ranks.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Wait for a collective by polling with short sleeps: MPI's own waits spin,
 * which on a machine with more work than cores takes the CPU from the rank
 * that is still computing, the one being waited for. */
static int finish(MPI_Request *rq) {
    struct timespec nap = {0, 20000}; /* 20 us, doubling to 1 ms: few wake-ups in a long wait */
    for (;;) {
        int done = 0;
        if (MPI_Test(rq, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return -1;
        if (done) return 0;
        nanosleep(&nap, NULL);
        if (nap.tv_nsec < 1000000) nap.tv_nsec *= 2;
    }
}

/* A byte collective (MPI_Iallgather and MPI_Ialltoall share this signature)
 * started over the world with `bytes` per rank, then waited for. */
typedef int (*start_fn)(const void *, int, MPI_Datatype, void *, int, MPI_Datatype, MPI_Comm, MPI_Request *);
static int collective(start_fn start, const void *send, void *recv, size_t bytes) {
    MPI_Request rq;
    if (bytes > INT_MAX ||
        start(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, MPI_COMM_WORLD, &rq) != MPI_SUCCESS)
        return -1;
    return finish(&rq);
}

static int allgather(void *ctx, const void *send, void *recv, size_t bytes) {
    (void)ctx;
    return collective(MPI_Iallgather, send, recv, bytes);
}

static int alltoall(void *ctx, const void *send, void *recv, size_t bytes) {
    (void)ctx;
    return collective(MPI_Ialltoall, send, recv, bytes);
}

/* The launchers' variables: Open MPI's mpirun, PMIx, MPICH's hydra and Slurm's PMI. */
static int launched(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_SIZE");
}

int cli_dist_start(sail_train_comm *comm) {
    if (!launched()) return 0;
    int rank, size;
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS || MPI_Comm_rank(MPI_COMM_WORLD, &rank) != MPI_SUCCESS ||
        MPI_Comm_size(MPI_COMM_WORLD, &size) != MPI_SUCCESS) {
        fprintf(stderr, "sail: MPI did not start under the launcher\n");
        return -1;
    }
    *comm = (sail_train_comm){.rank = rank, .size = size, .allgather = allgather, .alltoall = alltoall};
    return size;
}

void cli_dist_end(int ranks, int rc) {
    if (ranks <= 0) return;
    /* an error may leave the other ranks waiting in a collective; a stop
       (130) is agreed by all */
    if (rc && rc != 130 && ranks > 1) MPI_Abort(MPI_COMM_WORLD, rc);
    MPI_Finalize();
}
