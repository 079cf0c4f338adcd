// FileSystem: a volume as a POSIX file system, by inode, with no FUSE in it
// (src/fuse/ maps the kernel's requests onto it; tests call it directly).
//
// - Metadata goes through MetaClient (routing by inode range and parent,
//   retries with request ids, cross-partition operations).
// - Writes: each open file fills a needle buffer of up to chunk_bytes. A
//   write that continues (or lands inside) the last piece written grows it
//   in place; any other write becomes a new piece packed behind it, so
//   scattered small writes share needles. A full buffer is uploaded as one
//   needle (the block group's primary replicates it) while the next fills,
//   up to uploads_in_flight at once; each piece becomes one extent.
//   Flush (close, fsync, a read of the file, a setattr) waits for the
//   uploads and commits their extents with one AppendExtents, in the order
//   the writes were made, so a later write overlays an earlier one.
//   Fsync also has every block group the file wrote to since its last
//   fsync synced on every replica (DATANODE_SYNC) before it commits.
// - Reads: the file's visible extents (fetched at open and after this
//   client changed the file), needles read from their block group's
//   replicas in order (BlobClient::Get: checksum verified, failover) into a
//   chunk cache (LRU, chunk_cache_bytes), with the next needle fetched ahead
//   for sequential reads. Holes read as zeros.
// - Close-to-open consistency: open fetches the attributes and extents
//   again; what another client closed before our open is seen.
// - Extended attributes: GetXattr answers (found or not) are cached for
//   xattr_cache_ttl, like the kernel's attributes, and dropped at this
//   client's own changes; another client's change is seen within the ttl.
//   Directories this client changed answer GetAttr from their write's
//   answer for attr_cache_ttl (the kernel's own attribute timeout).
// - Fragmented files (small writes all over them) are merged into fresh
//   needles after their writer's last close (rewrite_extents).
// - Open files hold a lease in their inode's partition (an unlinked file
//   stays readable while open), renewed every lease_renew_interval. A file
//   opened for reading only takes it behind: the open is one read
//   (attributes and extents), and the leases of the files still open
//   lease_delay later go out in one OpenOp per partition; a file closed
//   sooner costs no metadata write. Meanwhile the needles read are safe:
//   the metanodes delete freed needles only deletion_grace (10 s) after
//   (metanode/service.h). This client's own unlinks and renames send the
//   waiting leases first, so a file it has open and unlinks stays; only
//   another client's unlink within lease_delay of the open can free it
//   (the reader then has its extents, which read until the grace ends).
// - Directory delegations (client/delegation.cc): after delegate_after
//   creates or unlinks in one directory within a second, the client takes
//   the directory's delegation (metanode/ops/delegation.cc) with inode ids
//   reserved, and lists it. While it holds it, lookups of names the
//   directory lacks, creates of regular files and unlinks of its files are
//   answered here and sent behind, in order, as batches (one in flight per
//   directory; the next gathers what came meanwhile). Anything that needs
//   a change the metanode has not applied yet (an open, a write's commit,
//   a setattr, a listing, a release of a new file) waits for its batch; an
//   operation the metanode refuses as Delegated to us gives the directory
//   back first. The delegation is given back when unused for
//   delegation_idle, when another client waits for it (polled every
//   delegation_poll), and at unmount. A change that fails at the metanode
//   (not expected: the checks are made here first) is logged and answered
//   by the next flush of the directory's files (fsync, close).
//
// Thread-safety: every method must be awaited from one strand (or one
// thread), which also runs the uploads and prefetches it starts: the state
// has no lock. Many operations may be in progress at once.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <absl/functional/function_ref.h>
#include <boost/asio/steady_timer.hpp>

#include "client/blob_client.h"
#include "client/meta_client.h"
#include "common/status.h"
#include "proto/metanode.pb.h"

namespace cfs::client {

struct FileSystemOptions {
  std::vector<std::string> masters = {"127.0.0.1:9333"};
  std::string volume;
  std::chrono::milliseconds timeout{30000};
  std::string replication;  // of the data's needles; empty: the master's default
  size_t chunk_bytes = 4 << 20;
  int uploads_in_flight = 4;
  uint32_t fid_batch = 64;                        // needle ids per Assign
  std::chrono::milliseconds fid_batch_ttl{10000};  // a batch older than this is not used (its group may fill)
  size_t chunk_cache_bytes = 256 << 20;
  std::chrono::milliseconds lease_renew_interval{20000};
  // A closed file's lease is released this long after its last close, in
  // one command per partition with the others closed meanwhile: a release
  // per close would be a Raft write beside each create in a loop of them,
  // and double its latency. A reopen meanwhile keeps the lease.
  std::chrono::milliseconds release_delay{100};
  // The lease of a file opened for reading only is taken this long after
  // the open, if the file is still open (see above).
  std::chrono::milliseconds lease_delay{1000};
  // Merge of fragmented files: when the last handle of a file this client
  // wrote closes and the file has more than rewrite_extents visible extents
  // averaging under 64 KiB (small writes all over it), its data is read and
  // written again as few fresh needles, committed only if the file did not
  // change meanwhile (AppendExtentsOp.rewrite); the old needles are freed.
  // Files over rewrite_max_bytes are left as they are (the merge holds the
  // file in memory). 0: never.
  size_t rewrite_extents = 4096;
  uint64_t rewrite_max_bytes = 256 << 20;
  // Answers of GetXattr, found or not, are kept this long (0: not kept) and
  // dropped at this client's own SetXattr/RemoveXattr of the inode. The
  // kernel asks for security.capability before every write to a file.
  std::chrono::milliseconds xattr_cache_ttl{1000};
  // The attributes of directories this client changed, as its write's
  // answer gave them (MetaResponse.dirs), answer GetAttr this long (0: not
  // kept): the kernel asks for them right after every create or unlink in
  // the directory. Dropped at this client's setattr/xattr change of the
  // directory, and all of them at a rename or rmdir.
  std::chrono::milliseconds attr_cache_ttl{1000};
  // Directory delegations (see above); 0: never taken.
  int delegate_after = 3;
  // Closes answered before their flush (Flush) at once, per directory;
  // further closes wait for theirs. 0: never.
  int closes_behind = 64;
  uint32_t delegation_inodes = 1024;                // inode ids reserved at a time
  size_t delegation_max_entries = 65536;            // larger directories are not taken
  std::chrono::milliseconds delegation_idle{1000};  // given back when unused this long
  std::chrono::milliseconds delegation_poll{50};    // asks whether another client waits
  // A batch waits this long for more changes, unless one is awaited (a
  // flush) or it is full: one Raft write per create would cost more CPU
  // than the creates.
  std::chrono::milliseconds delegation_batch_delay{5};
  // Answers are made here only this long past the last renewal sent (a
  // batch or DelegateOp): must stay below the metanodes' delegation_ttl.
  std::chrono::milliseconds delegation_valid{5000};
};

// What SetAttr changes (proto::SetAttrField bits in `valid`).
using SetAttrRequest = proto::SetAttrOp;

struct VolumeUsage {
  uint64_t bytes_used = 0;
  uint64_t capacity_bytes = 0;  // the volume's capacity; 0: unlimited
  uint64_t inodes = 0;
};

class FileSystem {
 public:
  FileSystem(rpc::ChannelPool& pool, FileSystemOptions options);
  ~FileSystem();

  // Fetches the volume's view and checks the root. Starts lease renewal.
  asio::awaitable<Status> Mount();
  // Sends every delegated directory's changes and gives it back, flushes
  // and releases every open file, stops lease renewal, and returns
  // once nothing it started is still running (then it may be destroyed).
  asio::awaitable<void> Unmount();

  // ---- metadata (errors: the metanode's, e.g. NotFound, AlreadyExists) ----
  asio::awaitable<Result<proto::InodeAttr>> Lookup(uint64_t parent, std::string_view name, const proto::Caller& c);
  // With this client's unflushed writes counted in the size.
  asio::awaitable<Result<proto::InodeAttr>> GetAttr(uint64_t inode);
  asio::awaitable<Result<proto::InodeAttr>> SetAttr(SetAttrRequest request, const proto::Caller& c);
  // Any type: mode carries the S_IFMT bits.
  asio::awaitable<Result<proto::InodeAttr>> Create(uint64_t parent, std::string_view name, uint32_t mode,
                                                   const proto::Caller& c, uint64_t rdev = 0,
                                                   std::string_view symlink_target = {});
  asio::awaitable<Status> Unlink(uint64_t parent, std::string_view name, bool rmdir, const proto::Caller& c);
  asio::awaitable<Status> Rename(uint64_t src_parent, std::string_view src_name, uint64_t dst_parent,
                                 std::string_view dst_name, uint32_t flags, const proto::Caller& c);
  asio::awaitable<Result<proto::InodeAttr>> Link(uint64_t inode, uint64_t parent, std::string_view name,
                                                 const proto::Caller& c);
  asio::awaitable<Result<std::string>> ReadLink(uint64_t inode);
  // An entry of a listing; `attr` only with plus, and only when known
  // (the child is in the directory's partition, or was created here).
  using DirSink = absl::FunctionRef<void(uint64_t inode, uint32_t type, std::string_view name,
                                         std::unique_ptr<proto::InodeAttr> attr)>;
  // Up to `limit` entries of `parent` after the name `after` ("": from
  // the start), in name order, each given to `add` as it is read (a held
  // directory's straight from its names, with no copy of the page); true
  // when more follow.
  asio::awaitable<Result<bool>> ReadDir(uint64_t parent, std::string_view after, uint32_t limit, bool plus,
                                        const proto::Caller& c, DirSink add);
  asio::awaitable<Status> SetXattr(uint64_t inode, std::string_view name, std::string_view value, uint32_t flags,
                                   const proto::Caller& c);
  asio::awaitable<Result<std::string>> GetXattr(uint64_t inode, std::string_view name, const proto::Caller& c);
  asio::awaitable<Result<std::vector<std::string>>> ListXattr(uint64_t inode, const proto::Caller& c);
  asio::awaitable<Status> RemoveXattr(uint64_t inode, std::string_view name, const proto::Caller& c);
  asio::awaitable<Result<VolumeUsage>> StatFs();

  // ---- data ----
  // Creates a regular file and opens it (one metadata write for both): its
  // attributes and handle.
  asio::awaitable<Result<std::pair<proto::InodeAttr, uint64_t>>> CreateOpen(uint64_t parent, std::string_view name,
                                                                             uint32_t mode, const proto::Caller& c);
  // Opens `inode` (a lease): the handle for Read/Write/Flush/Release and the
  // inode's attributes as the open found them (after O_TRUNC, `truncate`).
  // `read_only` (O_RDONLY): the lease is taken behind (see above).
  struct Opened {
    uint64_t handle = 0;
    proto::InodeAttr attr;
  };
  asio::awaitable<Result<Opened>> Open(uint64_t inode, bool truncate, const proto::Caller& c, bool read_only = false);
  // Up to `size` bytes at `offset` (fewer at the end of the file).
  asio::awaitable<Result<std::string>> Read(uint64_t handle, uint64_t offset, size_t size);
  asio::awaitable<Status> Write(uint64_t handle, uint64_t offset, std::string_view data);
  // Commits what the handle wrote (close-to-open). The first upload error
  // since the last flush, if any. A file created here under a directory
  // delegation is flushed behind (the answer comes at once): no other
  // client can reach it before the directory is given back, and the
  // directory is given back only once such flushes are committed, so
  // close-to-open holds; an error then is logged and answered by the
  // directory's next fsyncdir. Fsync is never behind.
  asio::awaitable<Status> Flush(uint64_t handle);
  // Flush with the data on every replica's disk first.
  asio::awaitable<Status> Fsync(uint64_t handle);
  // fsyncdir: the directory's changes made here and not yet sent reach the
  // metanode; the first that failed since the last such flush, if any.
  asio::awaitable<Status> FsyncDir(uint64_t dir);
  // Flushes and drops the handle and its lease.
  asio::awaitable<Status> Release(uint64_t handle);
  // Grows the file to at least offset + length (no data written: a hole).
  asio::awaitable<Status> Allocate(uint64_t handle, uint64_t offset, uint64_t length);

  // ---- file locks: flock and POSIX record locks, cluster-wide, held by
  // the inode's partition (metanode/file_lock.h). `lock.owner` is the
  // kernel's lock owner; the partition adds this client's id. A lock needs
  // the file open here (it lives as long as this client's lease). ----
  // F_GETLK: the first lock of another owner that conflicts with `lock`;
  // type FILE_UNLOCK when none does.
  asio::awaitable<Result<proto::FileLock>> GetLock(uint64_t inode, proto::FileLock lock);
  // F_SETLK, F_SETLKW, flock: takes or drops `lock`. False when another
  // owner's lock conflicts and `wait` is not set. With `wait`, polls (reads,
  // backing off to 50 ms) until the conflict is gone, and answers
  // Cancelled once `interrupted()` is true or the file system unmounts.
  asio::awaitable<Result<bool>> SetLock(uint64_t inode, proto::FileLock lock, bool wait,
                                        std::function<bool()> interrupted = {});
  // Drops the locks of `owner` of one kind (POSIX at every close of the
  // owner's descriptors, flock at the release of the open file), if it took
  // any here: no metadata write otherwise.
  asio::awaitable<Status> UnlockOwner(uint64_t inode, uint64_t owner, bool flock);

  // Directories this client holds now (tests).
  size_t delegated_count() const { return delegated_.size(); }

  MetaClient& meta() { return meta_; }
  BlobClient& blobs() { return blobs_; }

 private:
  struct Upload;
  struct OpenFile;
  std::shared_ptr<OpenFile> Handle(uint64_t handle);
  // Raises attr's size to what this client's open handles of it wrote.
  void CountOwnWrites(proto::InodeAttr* attr) const;
  // A handle for `inode`, open with lease taken, of `size` bytes.
  asio::awaitable<uint64_t> AddHandle(uint64_t inode, uint64_t size, const proto::Caller& c);
  // Flushes every handle of `inode` (before reading or changing its size).
  asio::awaitable<Status> FlushInode(uint64_t inode, bool sync);
  asio::awaitable<Status> FlushFile(std::shared_ptr<OpenFile> f, bool sync);
  // Commits the extents of f's uploads that are done (the front of
  // f->uploads), in write order, with the file size `size` (0: as far as
  // they reach). One commit of a file at a time: waits for one under way.
  asio::awaitable<Status> CommitDone(std::shared_ptr<OpenFile> f, uint64_t size);
  // CommitDone behind the writer (spawned when uploads end); a failure is
  // kept in f->error.
  asio::awaitable<void> CommitUploaded(std::shared_ptr<OpenFile> f);
  // Makes room in a needle buffer for `need` bytes.
  void ReserveNeedleBuffer(std::string& buf, size_t need) const;
  // Cuts the file's needle buffer into uploads of chunk_bytes (the last,
  // partial one too when `all`).
  asio::awaitable<void> CutBuffer(std::shared_ptr<OpenFile> f, bool all);
  asio::awaitable<void> RunUpload(std::shared_ptr<OpenFile> f, std::shared_ptr<Upload> u);
  // Needle ids come from the master in batches (Assign with a count): the
  // batch and the id to use of it.
  struct FidBatch {
    proto::AssignResponse assigned;
    uint32_t used = 0;
    std::chrono::steady_clock::time_point fetched;
  };
  asio::awaitable<Result<std::pair<std::shared_ptr<FidBatch>, uint64_t>>> NextFid();
  asio::awaitable<Result<std::shared_ptr<const std::string>>> Needle(const proto::Extent& e);
  void Prefetch(const proto::Extent& e);
  asio::awaitable<Status> RefreshExtents(std::shared_ptr<OpenFile> f);
  asio::awaitable<void> RenewLeases();
  // Releases of leases go out in batches, one command per partition,
  // release_delay after the first close of the batch.
  asio::awaitable<void> SendReleases();
  // A command to the partition of `inode`, its answer checked.
  asio::awaitable<Result<proto::MetaResponse>> InodeWrite(uint64_t inode, proto::MetaCommand c,
                                                          const proto::Caller& caller);
  asio::awaitable<Result<proto::MetaResponse>> InodeRead(uint64_t inode, proto::MetaReadRequest r,
                                                         const proto::Caller& caller);

  rpc::ChannelPool& pool_;
  const FileSystemOptions options_;
  MetaClient meta_;
  BlobClient blobs_;

  uint64_t next_handle_ = 1;
  std::unordered_map<uint64_t, std::shared_ptr<OpenFile>> handles_;
  std::multimap<uint64_t, uint64_t> handles_of_inode_;  // inode -> handle
  // Chunk cache: fid -> needle bytes, least recently used first in lru_.
  struct CachedNeedle {
    std::shared_ptr<const std::string> data;
    std::list<std::string>::iterator lru;
  };
  std::unordered_map<std::string, CachedNeedle> cache_;
  std::list<std::string> lru_;
  size_t cache_bytes_ = 0;
  // Needles being fetched; each one's timer is cancelled when it lands, to
  // wake the reads waiting for it.
  std::unordered_map<std::string, std::shared_ptr<asio::steady_timer>> fetching_;
  // GetXattr answers: inode -> name -> value (or none) until `expires`.
  struct CachedXattr {
    bool found = false;
    std::string value;
    std::chrono::steady_clock::time_point expires;
  };
  std::unordered_map<uint64_t, std::map<std::string, CachedXattr, std::less<>>> xattrs_;
  struct CachedAttr {
    proto::InodeAttr attr;
    std::chrono::steady_clock::time_point expires;
  };
  std::unordered_map<uint64_t, CachedAttr> dir_attrs_;  // inode -> attributes until `expires`
  void CacheDirAttr(const proto::InodeAttr& attr);
  std::unique_ptr<asio::steady_timer> renew_timer_;
  std::shared_ptr<FidBatch> fids_;  // the batch ids are taken from; null: none
  // (inode, owner, flock) of the owners that took locks here and may hold some.
  std::set<std::tuple<uint64_t, uint64_t, bool>> lockers_;
  std::set<uint64_t> to_release_;  // inodes whose last handle closed, lease taken (or on its way), not yet released
  std::set<uint64_t> releasing_;   // inodes of the batch in flight
  bool release_scheduled_ = false;
  std::set<uint64_t> to_lease_;  // open for reading only, lease not asked for yet
  std::set<uint64_t> leasing_;   // inodes of the lease batch in flight
  bool lease_scheduled_ = false;
  asio::steady_timer* lease_timer_ = nullptr;  // SendLeases' wait, while it waits
  // Opens for reading only: attributes and extents in one read; the lease
  // is queued (to_lease_) unless this client holds it already.
  // `leased`: this client holds the lease already (another handle, a
  // release not sent).
  asio::awaitable<Result<Opened>> OpenForReading(uint64_t inode, bool leased, const proto::Caller& c);
  // Sends the leases waiting in to_lease_ lease_delay after the first.
  asio::awaitable<void> SendLeases();
  // Sends every lease waiting in to_lease_ now and waits for those in
  // flight: before this client unlinks or renames anything.
  asio::awaitable<void> TakeLeasesNow();
  asio::awaitable<void> SendLeaseBatch(std::set<uint64_t> batch);
  bool stopping_ = false;
  bool renewing_ = false;  // RenewLeases is running
  std::deque<uint64_t> to_rewrite_;  // inodes to merge, in order
  bool rewriting_ = false;           // RunRewrites is running
  // A file of `size` bytes in `extents` visible extents is to be merged
  // (rewrite_extents, rewrite_max_bytes).
  bool Fragmented(size_t extents, uint64_t size) const;
  // Merges the files in to_rewrite_, one at a time, until none is left.
  asio::awaitable<void> RunRewrites();
  // Merges `inode` if it is still fragmented (see rewrite_extents): reads
  // it (null: nothing to merge), then writes and commits the merge.
  asio::awaitable<Status> Rewrite(uint64_t inode);
  struct MergeSource;
  asio::awaitable<Result<std::shared_ptr<MergeSource>>> ReadForMerge(uint64_t inode);
  asio::awaitable<Status> WriteMerged(uint64_t inode, std::shared_ptr<MergeSource> m);

  // ---- directory delegations (delegation.cc) ----
  struct Delegated;
  std::unordered_map<uint64_t, std::shared_ptr<Delegated>> delegated_;  // by directory
  // Files created here behind a delegation (their attributes in its Delegated) -> the directory.
  std::unordered_map<uint64_t, uint64_t> created_in_;
  struct Activity {
    int changes = 0;
    std::chrono::steady_clock::time_point since;
  };
  std::unordered_map<uint64_t, Activity> activity_;  // recent creates/unlinks by directory
  bool polling_ = false;                              // PollDelegations is running
  // The delegation of `dir` if answers may be made from it now.
  std::shared_ptr<Delegated> Usable(uint64_t dir);
  // Counts a create or unlink in `dir` and takes its delegation at the
  // delegate_after-th in a second (if free and small enough).
  asio::awaitable<void> NoteChange(uint64_t dir, const proto::Caller& c);
  asio::awaitable<void> TakeDelegation(uint64_t dir, const proto::Caller& c);
  // DelegateOp for d's directory: takes or renews it (valid_until), with
  // `reserve` more inode ids (used once those left run out).
  asio::awaitable<Result<proto::MetaResponse>> Delegate(std::shared_ptr<Delegated> d, uint32_t reserve,
                                                        const proto::Caller& c);
  // Answers made from a delegation; nullopt: not from it (ask the metanode).
  std::optional<Result<proto::InodeAttr>> LocalLookup(uint64_t parent, std::string_view name);
  // A file created here whose create is not applied yet, or a directory held here.
  std::optional<proto::InodeAttr> LocalAttr(uint64_t inode);
  // A file created here in a directory held here, its create applied and
  // its data committed behind (or none): its attributes and visible
  // extents, which no other client can have changed. The caller has
  // flushed this client's writes of it first.
  std::optional<std::pair<proto::InodeAttr, std::vector<proto::Extent>>> LocalExtents(uint64_t inode);
  // A page of a directory held here, from its names (the whole directory
  // is known here while it is held; same order and paging as the
  // metanode's). Attributes (plus) of the files created here only.
  std::optional<Result<bool>> LocalReadDir(uint64_t parent, std::string_view after, uint32_t limit, bool plus,
                                           const proto::Caller& c, DirSink add);
  asio::awaitable<std::optional<Result<proto::InodeAttr>>> LocalCreate(uint64_t parent, std::string_view name,
                                                                       uint32_t mode, bool open,
                                                                       const proto::Caller& c);
  // An unlink (not rmdir) of a name in a delegated directory.
  asio::awaitable<std::optional<Status>> LocalUnlink(uint64_t parent, std::string_view name, const proto::Caller& c);
  // Queues a change of d's directory and starts its sender.
  void Enqueue(std::shared_ptr<Delegated> d, proto::MetaCommand c, uint64_t inode,
               std::shared_ptr<Result<proto::MetaResponse>> answer = nullptr);
  // The commit of a file created behind a delegation, while the client
  // knows its attributes and extents: goes in a batch (the create's, if it
  // is not applied yet: one write for both), so that its answer keeps
  // them known, and is awaited; its answer. nullopt: not such a file
  // (extents untouched).
  asio::awaitable<std::optional<Result<proto::MetaResponse>>> CommitBehind(uint64_t inode,
                                                                           std::vector<proto::Extent>& extents,
                                                                           uint64_t size, const proto::Caller& c);
  // This client changes `inode` at the metanode: attributes kept for it
  // since its create (applied) are dropped. Call after Settle.
  void ForgetCreated(uint64_t inode);
  // Starts SendBatches for d unless it runs.
  void StartSender(std::shared_ptr<Delegated> d);
  // Sends d's queue as batches, one at a time, until it is empty (and, if
  // giving back, the delegation is given back).
  asio::awaitable<void> SendBatches(std::shared_ptr<Delegated> d);
  // Waits until every change queued for `dir` so far is answered; the
  // first error among them not reported yet.
  asio::awaitable<Status> FlushDelegated(uint64_t dir);
  // An inode created here whose create is not applied yet: waits for its batch.
  asio::awaitable<Status> Settle(uint64_t inode);
  // The delegation under which a close of `inode` may be answered before
  // its flush ends (the file was created here under it, which is held, and
  // fewer than closes_behind are behind), with this close counted in it
  // (d->behind); null: none (see Flush).
  std::shared_ptr<Delegated> CloseBehind(uint64_t inode);
  // The flush of a close answered early, counted in d->behind until it
  // ends: an error is logged and kept for the directory's next fsyncdir.
  asio::awaitable<void> FlushBehind(std::shared_ptr<OpenFile> f, uint64_t inode, std::shared_ptr<Delegated> d);
  // Sends what is queued and gives the directory back (the give_back hook).
  asio::awaitable<void> GiveBack(uint64_t dir);
  asio::awaitable<void> PollDelegations();
};

// The bytes of [offset, offset + size) of a file of `file_size` whose
// visible extents (sorted, disjoint) are `extents`, with `needle(e)` the
// data of extent e's needle (whole). Holes read as zeros; nothing is read
// at or past file_size.
std::string AssembleRead(const std::vector<proto::Extent>& extents, uint64_t file_size, uint64_t offset,
                         size_t size, const std::function<const std::string&(const proto::Extent&)>& needle);

}  // namespace cfs::client
