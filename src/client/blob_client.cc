#include "client/blob_client.h"

#include <fmt/format.h>

#include "common/crc32c.h"

namespace cfs::client {

BlobClient::BlobClient(rpc::ChannelPool& pool, BlobClientOptions options)
    : pool_(pool), options_(std::move(options)), masters_(pool, options_.masters) {}

template <typename Resp>
asio::awaitable<Result<Resp>> BlobClient::MasterCall(proto::Method method, const google::protobuf::Message& req) {
  if (options_.masters.empty()) co_return Status::InvalidArgument("no master address given");
  Resp resp;
  auto r = co_await masters_.Call(method, req, &resp, "", options_.timeout);
  if (!r.ok()) co_return r.status();
  co_return resp;
}

asio::awaitable<Result<proto::AssignResponse>> BlobClient::Assign(uint32_t count, const PutOptions& options) {
  proto::AssignRequest req;
  req.set_count(count);
  req.set_collection(options.collection);
  req.set_replication(options.replication);
  req.set_ttl(options.ttl);
  co_return co_await MasterCall<proto::AssignResponse>(proto::MASTER_ASSIGN, req);
}

asio::awaitable<Result<proto::ClusterStatusResponse>> BlobClient::ClusterStatus() {
  proto::ClusterStatusRequest req;
  co_return co_await MasterCall<proto::ClusterStatusResponse>(proto::MASTER_CLUSTER_STATUS, req);
}

asio::awaitable<Result<std::string>> BlobClient::Put(std::string data, const PutOptions& options) {
  if (data.empty()) co_return Status::InvalidArgument("an empty blob cannot be stored");
  auto assigned = co_await Assign(1, options);
  if (!assigned.ok()) co_return assigned.status().WithContext("assign");
  if (Status s = co_await Write(*assigned, assigned->needle_id(), std::move(data), options); !s.ok()) co_return s;
  co_return assigned->fid();
}

asio::awaitable<Status> BlobClient::Write(const proto::AssignResponse& a, uint64_t needle_id, std::string data,
                                          const PutOptions& options) {
  const std::string fid = FormatFileId(BlockGroupId(a.block_group()), NeedleId(needle_id), Cookie(a.cookie()));
  if (data.empty()) co_return Status::InvalidArgument("an empty blob cannot be stored");
  if (a.replicas().empty()) co_return Status::Unavailable(fmt::format("assign {}: no replicas", fid));
  if (needle_id < a.needle_id() || needle_id >= a.needle_id() + std::max<uint32_t>(a.count(), 1)) {
    co_return Status::InvalidArgument(fmt::format("needle {} is not among the {} assigned from {}", needle_id,
                                                  a.count(), a.fid()));
  }
  proto::WriteRequest req;
  req.set_block_group(a.block_group());
  req.set_needle_id(needle_id);
  req.set_cookie(a.cookie());
  req.set_checksum(crc32c::Value(data));
  req.set_name(options.name);
  req.set_mime(options.mime);
  req.set_ttl(options.ttl);
  req.set_sync(options.sync);
  for (int i = 1; i < a.replicas_size(); ++i) req.add_replicas(a.replicas(i));
  proto::WriteResponse resp;
  auto r = co_await pool_.Get(a.replicas(0))->Call(proto::DATANODE_WRITE, req, &resp, std::move(data), options_.timeout);
  if (!r.ok()) co_return r.status().WithContext(fmt::format("write {} to {}", fid, a.replicas(0)));
  {
    std::lock_guard l(mu_);
    lookups_[a.block_group()] = CachedLookup{{a.replicas().begin(), a.replicas().end()},
                                             std::chrono::steady_clock::now() + options_.lookup_cache_ttl};
  }
  co_return Status::OK();
}

asio::awaitable<Result<std::vector<std::string>>> BlobClient::Lookup(BlockGroupId group) {
  {
    std::lock_guard l(mu_);
    auto it = lookups_.find(group.value());
    if (it != lookups_.end() && it->second.expires > std::chrono::steady_clock::now()) co_return it->second.replicas;
  }
  proto::LookupBlockGroupRequest req;
  req.set_block_group(group.value());
  auto r = co_await MasterCall<proto::LookupBlockGroupResponse>(proto::MASTER_LOOKUP_BLOCK_GROUP, req);
  if (!r.ok()) co_return r.status();
  std::vector<std::string> replicas(r->replicas().begin(), r->replicas().end());
  std::lock_guard l(mu_);
  lookups_[group.value()] = CachedLookup{replicas, std::chrono::steady_clock::now() + options_.lookup_cache_ttl};
  co_return replicas;
}

void BlobClient::ForgetLookup(BlockGroupId group) {
  std::lock_guard l(mu_);
  lookups_.erase(group.value());
}

asio::awaitable<Result<Blob>> BlobClient::GetFrom(const std::string& address, std::string_view fid_text) {
  auto fid = ParseFileId(fid_text);
  if (!fid.ok()) co_return fid.status();
  proto::ReadRequest req;
  req.set_block_group(fid->group.value());
  req.set_needle_id(fid->needle.value());
  req.set_cookie(fid->cookie.value());
  proto::ReadResponse resp;
  auto r = co_await pool_.Get(address)->Call(proto::DATANODE_READ, req, &resp, "", options_.timeout);
  if (!r.ok()) co_return r.status().WithContext(fmt::format("get {} from {}", fid_text, address));
  // Verified end to end: the datanode checked its disk, we check the wire.
  const uint32_t crc = crc32c::Value(*r);
  if (crc != resp.checksum() && crc32c::Mask(crc) != resp.checksum()) {
    co_return Status::Corruption(fmt::format("get {} from {}: checksum mismatch", fid_text, address));
  }
  co_return Blob{std::move(*r), resp.name(), resp.mime(), crc};
}

asio::awaitable<Result<Blob>> BlobClient::Get(std::string_view fid_text) {
  auto fid = ParseFileId(fid_text);
  if (!fid.ok()) co_return fid.status();
  auto replicas = co_await Lookup(fid->group);
  if (!replicas.ok()) co_return replicas.status().WithContext(fmt::format("get {}", fid_text));
  Status last = Status::Unavailable(fmt::format("get {}: no replica", fid_text));
  // Every replica has every acknowledged needle: the needles of a group are
  // spread over its replicas by id (a file's needles are read from all of
  // them at once), the others tried in turn on failure.
  const size_t n = replicas->size();
  const size_t first = n == 0 ? 0 : static_cast<size_t>(fid->needle.value() % n);
  for (size_t i = 0; i < n; ++i) {
    auto blob = co_await GetFrom((*replicas)[(first + i) % n], fid_text);
    if (blob.ok()) co_return blob;
    last = blob.status();
  }
  ForgetLookup(fid->group);
  co_return last;
}

asio::awaitable<Status> BlobClient::Sync(BlockGroupId group) {
  auto replicas = co_await Lookup(group);
  if (!replicas.ok()) co_return replicas.status().WithContext(fmt::format("sync block group {}", group));
  if (replicas->empty()) co_return Status::NotFound(fmt::format("block group {} has no replicas", group));
  proto::SyncRequest req;
  req.set_block_group(group.value());
  for (size_t i = 1; i < replicas->size(); ++i) req.add_replicas((*replicas)[i]);
  proto::SyncResponse resp;
  auto r = co_await pool_.Get((*replicas)[0])->Call(proto::DATANODE_SYNC, req, &resp, "", options_.timeout);
  if (!r.ok()) {
    ForgetLookup(group);
    co_return r.status().WithContext(fmt::format("sync block group {}", group));
  }
  co_return Status::OK();
}

asio::awaitable<Status> BlobClient::Delete(std::string_view fid_text) {
  auto fid = ParseFileId(fid_text);
  if (!fid.ok()) co_return fid.status();
  auto replicas = co_await Lookup(fid->group);
  if (!replicas.ok()) co_return replicas.status().WithContext(fmt::format("delete {}", fid_text));
  if (replicas->empty()) co_return Status::NotFound(fmt::format("block group {} has no replicas", fid->group));
  proto::DeleteRequest req;
  req.set_block_group(fid->group.value());
  req.set_needle_id(fid->needle.value());
  req.set_cookie(fid->cookie.value());
  for (size_t i = 1; i < replicas->size(); ++i) req.add_replicas((*replicas)[i]);
  proto::DeleteResponse resp;
  auto r = co_await pool_.Get((*replicas)[0])->Call(proto::DATANODE_DELETE, req, &resp, "", options_.timeout);
  if (!r.ok()) {
    ForgetLookup(fid->group);
    co_return r.status().WithContext(fmt::format("delete {}", fid_text));
  }
  co_return Status::OK();
}

}  // namespace cfs::client
