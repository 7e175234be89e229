// jobstore_bench: the workload driver (see workload.h and RESULTS.md).
#include "workload.h"

int main(int argc, char** argv) { return jobstore::bench::BenchMain(argc, argv); }
