/// @file
/// forage: a work-stealing scheduler. Include this one header (everything but forage::mpi,
/// which is forage/mpi.hpp).
#pragma once

#include "forage/algorithm.hpp"
#include "forage/errors.hpp"
#include "forage/executor.hpp"
#include "forage/future.hpp"
#include "forage/join.hpp"
#include "forage/map_options.hpp"
#include "forage/options.hpp"
#include "forage/pool.hpp"
#include "forage/progress_bar.hpp"
#include "forage/promise.hpp"
#include "forage/result_allocator.hpp"
#include "forage/single_queue_pool.hpp"
#include "forage/stats.hpp"
#include "forage/stop.hpp"
#include "forage/topology.hpp"
#include "forage/trace.hpp"
#include "forage/version.hpp"
#include "forage/when.hpp"

/// @namespace forage
/// forage: pools (Pool, SingleQueuePool), futures (Future, SharedFuture, Promise, when_all,
/// when_any), fork-join (join, TaskGroup), the parallel algorithms (parallel_map and its
/// family), cooperative cancellation, statistics, traces and the machine's topology. The
/// exceptions it throws are in forage/errors.hpp.
