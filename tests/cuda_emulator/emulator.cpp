// The CUDA host emulator's runtime: runs a launch of a kernel of a family's library (build.py links
// this file, compiled once, into each), and the library's C interface, which raw_kernels.py calls.
//
// A launch runs its blocks one after another, in a random order. A block's threads are fibers, each
// with its own stack, run by a scheduler on the calling OS thread one at a time, each until it waits at
// a __syncthreads or a shuffle or returns. The next to run is the runnable thread of highest priority,
// priorities drawn at random for each block: so one thread may lag far behind the rest of its block,
// as a stalled warp can on a GPU, and a missing __syncthreads shows as a wrong result (choosing at
// random at every step would almost never let one thread lag, and miss those races). The scheduler
// knows every thread's state: a __syncthreads that some thread of the block never reaches, a shuffle
// that some lane of its mask never joins, and deadlocks are errors instead of hangs. (OS threads, one
// per CUDA thread, behind std::barrier would add real parallelism, at a kernel context switch per
// thread and barrier: some 20x slower on the block reductions, too slow for a test.)
#include "emulator.h"

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "shim.h"

#define EMBER_EMU_EXPORT extern "C" __attribute__((visibility("default")))

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

namespace ember_emu {

enum class State { runnable, at_sync, at_shuffle, returned };

// A CUDA thread: a fiber, and what it waits for.
struct Thread {
  ucontext_t context;
  uint3 index;
  unsigned lane, warp;
  unsigned priority;  // the scheduler runs the runnable thread of highest priority
  State state;
  std::source_location where;  // of the __syncthreads or shuffle it waits at
  unsigned mask;               // its shuffle's lanes, value size, value, source lane and result
  int size, source;
  unsigned char value[8], result[8];
};

// One shuffle at a time per warp: lanes of one warp in two shuffles of disjoint masks at once, which
// CUDA allows, are reported as lanes in different shuffles.
struct Warp {
  unsigned lanes, live, arrived;  // bit masks: the lanes the block has, those not returned, those in a shuffle
  unsigned mask;                  // the shuffle in progress: its lanes, value size and call
  int size;
  std::source_location where;
};

bool same_place(const std::source_location& a, const std::source_location& b) {
  return a.line() == b.line() && a.column() == b.column() && std::strcmp(a.file_name(), b.file_name()) == 0;
}

std::string place(const std::source_location& where) {
  return std::string(where.file_name()) + ":" + std::to_string(where.line());
}

// The fibers' stacks, kept across launches, each above a guard page (an overflow crashes, never corrupts).
constexpr std::size_t kStackBytes = 64 * 1024;  // a kernel's frames take a few KiB
std::vector<char*> stacks;

char* stack(std::size_t index) {
  const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE));
  while (stacks.size() <= index) {
    void* memory = mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) throw std::bad_alloc();
    mprotect(memory, page, PROT_NONE);
    stacks.push_back(static_cast<char*>(memory) + page);
  }
  return stacks[index];
}

// The kernels' statics (their __shared__ arrays): every block starts with NaN bytes in them.
std::vector<std::pair<void*, std::size_t>> shared_memory;

class Launch {
 public:
  Launch(const Kernel& kernel, void** args, dim3 grid, dim3 block, unsigned long long seed)
      : kernel_(kernel), args_(args), grid_(grid), block_(block), random_(seed),
        threads_(std::size_t(block.x) * block.y * block.z), warps_((threads_.size() + 31) / 32) {}

  // Runs every block; the first error found, or "" when none.
  std::string run() {
    std::vector<uint3> blocks;
    for (unsigned z = 0; z < grid_.z; ++z)
      for (unsigned y = 0; y < grid_.y; ++y)
        for (unsigned x = 0; x < grid_.x; ++x) blocks.push_back({x, y, z});
    std::shuffle(blocks.begin(), blocks.end(), random_);  // no block may rely on another running first
    for (const uint3& block : blocks) {
      run_block(block);
      if (!error_.empty()) break;
    }
    return error_;
  }

  // For the calling fiber: wait in `state` (at `where`) until the scheduler resumes it.
  void wait(State state, std::source_location where) {
    current_->state = state;
    current_->where = where;
    swapcontext(&current_->context, &scheduler_);
  }

  Thread& current() { return *current_; }
  void invoke_kernel() { kernel_.invoke(args_); }

 private:
  void run_block(uint3 block) {
    blockIdx = block;
    for (auto [address, size] : shared_memory) std::memset(address, 0xff, size);
    start_threads();
    while (error_.empty()) {
      if (runnable_.empty()) {
        if (live_ != 0) report_deadlock();
        return;
      }
      std::pop_heap(runnable_.begin(), runnable_.end(), lower_priority);
      Thread& thread = *runnable_.back();
      runnable_.pop_back();
      current_ = &thread;
      threadIdx = thread.index;
      swapcontext(&scheduler_, &thread.context);
      switch (thread.state) {
        case State::at_sync: arrive_at_sync(thread); break;
        case State::at_shuffle: arrive_at_shuffle(thread); break;
        case State::returned: leave(thread); break;
        case State::runnable: break;  // never: a thread comes back only to wait or return
      }
    }
  }

  static bool lower_priority(const Thread* a, const Thread* b) { return a->priority < b->priority; }
  void make_runnable(Thread& thread) {
    thread.state = State::runnable;
    runnable_.push_back(&thread);
    std::push_heap(runnable_.begin(), runnable_.end(), lower_priority);
  }
  void start_threads();
  void arrive_at_sync(Thread& thread);
  void arrive_at_shuffle(Thread& thread);
  void leave(Thread& thread);
  void release_sync_if_complete();
  void report_deadlock();
  void fail(const std::string& message);
  std::string who(const Thread& thread) const;

  const Kernel& kernel_;
  void** args_;
  dim3 grid_, block_;
  std::mt19937_64 random_;
  std::vector<Thread> threads_;
  std::vector<Warp> warps_;
  std::vector<Thread*> runnable_, at_sync_;
  unsigned live_ = 0, returned_since_sync_ = 0;
  Thread* current_ = nullptr;
  ucontext_t scheduler_;
  std::string error_;
};

Launch* running = nullptr;  // the launch in progress: one at a time (ember_emu_launch holds a mutex)

void thread_main() {
  running->invoke_kernel();
  running->wait(State::returned, std::source_location::current());  // never resumed
}

void Launch::start_threads() {
  const unsigned count = unsigned(threads_.size());
  live_ = count;
  returned_since_sync_ = 0;
  runnable_.clear();
  at_sync_.clear();
  for (unsigned w = 0; w < warps_.size(); ++w) {
    const unsigned lanes = count - 32 * w >= 32 ? ~0u : (1u << (count - 32 * w)) - 1;
    warps_[w] = {lanes, lanes, 0, 0, 0, {}};
  }
  std::vector<unsigned> priorities(count);
  for (unsigned i = 0; i < count; ++i) priorities[i] = i;
  std::shuffle(priorities.begin(), priorities.end(), random_);
  for (unsigned i = 0; i < count; ++i) {
    Thread& thread = threads_[i];
    thread.index = {i % block_.x, i / block_.x % block_.y, i / (block_.x * block_.y)};
    thread.lane = i % 32;
    thread.warp = i / 32;
    thread.priority = priorities[i];
    getcontext(&thread.context);
    thread.context.uc_stack.ss_sp = stack(i);
    thread.context.uc_stack.ss_size = kStackBytes;
    thread.context.uc_link = nullptr;
    makecontext(&thread.context, thread_main, 0);
    make_runnable(thread);
  }
}

// A __syncthreads completes when every thread that has not returned waits at it; threads that
// returned meanwhile never reach it, which CUDA leaves undefined (a hang, or a barrier that lets the
// others through): an error here.
void Launch::arrive_at_sync(Thread& thread) {
  if (!at_sync_.empty() && !same_place(thread.where, at_sync_.front()->where))
    return fail("__syncthreads at different places: " + who(*at_sync_.front()) + " at " +
                place(at_sync_.front()->where) + ", " + who(thread) + " at " + place(thread.where));
  at_sync_.push_back(&thread);
  release_sync_if_complete();
}

void Launch::release_sync_if_complete() {
  if (at_sync_.empty() || at_sync_.size() != live_) return;
  if (returned_since_sync_ != 0)
    return fail(std::to_string(returned_since_sync_) + " threads returned while the other " +
                std::to_string(live_) + " wait at the __syncthreads at " + place(at_sync_.front()->where));
  for (Thread* waiting : at_sync_) make_runnable(*waiting);
  at_sync_.clear();
}

// A shuffle completes when every lane of its mask has called it; each lane then reads its source's value.
void Launch::arrive_at_shuffle(Thread& thread) {
  Warp& warp = warps_[thread.warp];
  const unsigned bit = 1u << thread.lane;
  if (!(thread.mask & bit)) return fail(who(thread) + " shuffles with a mask that leaves out its own lane");
  if (thread.mask & ~warp.lanes)
    return fail(who(thread) + " shuffles with lanes the block does not have (mask " + std::to_string(thread.mask) +
                "): a block size that is not a multiple of 32?");
  if (thread.mask & ~warp.live) return fail(who(thread) + " shuffles with lanes that have returned");
  if (warp.arrived == 0) {
    warp.mask = thread.mask;
    warp.size = thread.size;
    warp.where = thread.where;
  } else if (thread.mask != warp.mask || thread.size != warp.size || !same_place(thread.where, warp.where)) {
    return fail("the lanes of warp " + std::to_string(thread.warp) + " are in different shuffles: " + who(thread) +
                " at " + place(thread.where) + ", others at " + place(warp.where));
  }
  warp.arrived |= bit;
  if (warp.arrived != warp.mask) return;
  Thread* lanes = &threads_[32 * thread.warp];
  for (unsigned lane = 0; lane < 32; ++lane) {
    if (!(warp.mask >> lane & 1u)) continue;
    Thread& reader = lanes[lane];
    if (!(warp.mask >> reader.source & 1u))
      return fail(who(reader) + " reads lane " + std::to_string(reader.source) + ", which is not in the shuffle");
    std::memcpy(reader.result, lanes[reader.source].value, 8);
    make_runnable(reader);
  }
  warp.arrived = 0;
}

void Launch::leave(Thread& thread) {
  Warp& warp = warps_[thread.warp];
  const unsigned bit = 1u << thread.lane;
  warp.live &= ~bit;
  if (warp.arrived != 0 && (warp.mask & bit))
    return fail(who(thread) + " returned while its warp waits for it in the shuffle at " + place(warp.where));
  --live_;
  ++returned_since_sync_;
  release_sync_if_complete();
}

void Launch::report_deadlock() {
  std::size_t in_shuffles = 0;
  for (const Thread& thread : threads_) in_shuffles += thread.state == State::at_shuffle;
  fail("deadlock: " + std::to_string(at_sync_.size()) + " threads wait at a __syncthreads, " +
       std::to_string(in_shuffles) + " in shuffles that can never complete");
}

void Launch::fail(const std::string& message) {
  if (error_.empty())
    error_ = std::string(kernel_.name) + ", block (" + std::to_string(blockIdx.x) + ", " +
             std::to_string(blockIdx.y) + ", " + std::to_string(blockIdx.z) + "): " + message;
}

std::string Launch::who(const Thread& thread) const {
  return "thread (" + std::to_string(thread.index.x) + ", " + std::to_string(thread.index.y) + ", " +
         std::to_string(thread.index.z) + ")";
}

void sync_threads(std::source_location where) { running->wait(State::at_sync, where); }

void shuffle(unsigned mask, const void* value, void* result, int size, int source, std::source_location where) {
  Thread& thread = running->current();
  thread.mask = mask;
  thread.size = size;
  thread.source = source;
  std::memcpy(thread.value, value, std::size_t(size));
  running->wait(State::at_shuffle, where);
  std::memcpy(result, thread.result, std::size_t(size));
}

unsigned lane() { return running->current().lane; }

std::mutex launch_mutex;

}  // namespace ember_emu

// ---- the library's C interface (device.py) ----------------------------------------------------

EMBER_EMU_EXPORT int ember_emu_kernel_count() { return ember_emu::kernel_count; }

EMBER_EMU_EXPORT const char* ember_emu_kernel_name(int index) { return ember_emu::kernels[index].name; }

// Writes kernel `index`'s parameter codes, comma-separated, into `out` (4 bytes a parameter at most).
EMBER_EMU_EXPORT void ember_emu_kernel_signature(int index, char* out) { ember_emu::kernels[index].signature(out); }

EMBER_EMU_EXPORT void ember_emu_set_shared_memory(int count, void* const* addresses, const unsigned long long* sizes) {
  ember_emu::shared_memory.clear();
  for (int i = 0; i < count; ++i) ember_emu::shared_memory.emplace_back(addresses[i], std::size_t(sizes[i]));
}

// Runs kernel `index` on grid x block threads with `args` (pointers to each argument's value); writes
// an error into `error` and returns 1 when the launch breaks a rule of CUDA's, else returns 0.
EMBER_EMU_EXPORT int ember_emu_launch(int index, const unsigned* grid, const unsigned* block, void** args,
                                      unsigned long long seed, char* error, int capacity) {
  std::lock_guard<std::mutex> lock(ember_emu::launch_mutex);
  gridDim = {grid[0], grid[1], grid[2]};
  blockDim = {block[0], block[1], block[2]};
  ember_emu::Launch launch(ember_emu::kernels[index], args, gridDim, blockDim, seed);
  ember_emu::running = &launch;
  const std::string message = launch.run();
  ember_emu::running = nullptr;
  std::snprintf(error, std::size_t(capacity), "%s", message.c_str());
  return message.empty() ? 0 : 1;
}
