/// @file
/// Executor: the pools that join, TaskGroup and the parallel algorithms run on. Every algorithm
/// is written once over it; `E::work_stealing` picks how it schedules: recursive splitting with
/// join on a Pool (idle workers steal the halves), chunks submitted to the one FIFO of a
/// SingleQueuePool (as Python's pools do).
///
/// It is not an extension point: the algorithms hand a pool intrusive task nodes through its
/// private post(), which detail::SchedulerAccess reaches. To run forage's algorithms, use one of
/// its two pools.
#pragma once

#include <concepts>

namespace forage {

class Pool;
class SingleQueuePool;

/// Satisfied by forage's two pools only, Pool and SingleQueuePool (see forage/executor.hpp).
/// A compile-time check: it throws nothing and involves no thread.
template <class E>
concept Executor = std::same_as<E, Pool> || std::same_as<E, SingleQueuePool>;

}  // namespace forage
