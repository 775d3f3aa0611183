/* ranks.h: the processes of a data-parallel `sail train` or a sharded
 * `sail index add` started by mpirun (docs/TRAINING.md, "Several
 * processes"; docs/INDEX.md). Only a `make MPI=1` build has them
 * (cli/mpi/dist_mpi.c); the plain build runs alone and links no MPI. */
#ifndef SAIL_CLI_RANKS_H
#define SAIL_CLI_RANKS_H

#include "sail_train.h"

#ifdef SAIL_MPI
/* When mpirun started this process: initialise MPI and fill *comm with
 * this rank and the transport; returns the number of ranks (1: alone after
 * all). Returns 0 without touching MPI when no launcher started it, -1
 * (reported) when MPI cannot start. */
int cli_dist_start(sail_train_comm *comm);
/* The end of a run that started: MPI_Finalize, or after an error (rc other
 * than 0 and 130, a stop every rank agreed on) MPI_Abort of every rank, as
 * the others may be waiting for this one. */
void cli_dist_end(int ranks, int rc);
#define CLI_DIST_USAGE "Under mpirun -np N: data-parallel over N processes (docs/TRAINING.md).\n"
#else
static inline int cli_dist_start(sail_train_comm *comm) { (void)comm; return 0; }
static inline void cli_dist_end(int ranks, int rc) { (void)ranks; (void)rc; }
#define CLI_DIST_USAGE ""
#endif

#endif
