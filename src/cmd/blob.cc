// `cfs blob put|get|rm|assign` and `cfs cluster status`: the blob API from the shell.
#include <fstream>
#include <iostream>
#include <iterator>

#include <fmt/format.h>

#include "client/blob_client.h"
#include "cmd/commands.h"
#include "cmd/serve.h"
#include "rpc/runtime.h"

namespace cfs::cmd {
namespace {

constexpr char kDefaultMaster[] = "127.0.0.1:9333";

struct ClientArgs {
  std::string master = kDefaultMaster;
};

void AddMasterOption(CLI::App* app, ClientArgs* a) {
  app->add_option("--master", a->master, "HOST:PORT[,HOST:PORT...] of the masters")->capture_default_str();
}

client::BlobClientOptions ClientOptions(const ClientArgs& a) {
  client::BlobClientOptions o;
  o.masters = SplitList(a.master);
  return o;
}

// Runs fn(client) on a one-thread runtime.
template <typename Fn>
auto WithClient(const ClientArgs& a, Fn fn) {
  rpc::Runtime runtime(1);
  rpc::ChannelPool pool(runtime.executor());
  client::BlobClient client(pool, ClientOptions(a));
  auto result = runtime.Run(fn(client));
  pool.CloseAll();
  runtime.Stop();
  return result;
}

struct PutArgs : ClientArgs {
  std::vector<std::string> files;
  client::PutOptions put;
};

int Put(const PutArgs& a) {
  int failures = 0;
  for (const auto& path : a.files) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      std::cerr << fmt::format("cfs blob put: cannot read {}\n", path);
      ++failures;
      continue;
    }
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    client::PutOptions o = a.put;
    if (o.name.empty()) o.name = std::filesystem::path(path).filename().string();
    auto fid = WithClient(a, [&](client::BlobClient& c) { return c.Put(std::move(data), o); });
    if (!fid.ok()) {
      std::cerr << fmt::format("cfs blob put: {}: {}\n", path, fid.status().ToString());
      ++failures;
      continue;
    }
    std::cout << fmt::format("{}\t{}\n", *fid, path);
  }
  return failures == 0 ? 0 : 1;
}

struct GetArgs : ClientArgs {
  std::vector<std::string> fids;
  std::string out, replica;
};

// Several fids: each is read (from --replica only, if given) and checked;
// failures are listed and the data is not printed.
int CheckMany(const GetArgs& a) {
  int failures = WithClient(a, [&](client::BlobClient& c) -> boost::asio::awaitable<int> {
    int bad = 0;
    for (const auto& fid : a.fids) {
      // Not a ?: with co_await in both arms: g++ 12 miscompiles that.
      Result<client::Blob> blob;
      if (a.replica.empty()) {
        blob = co_await c.Get(fid);
      } else {
        blob = co_await c.GetFrom(a.replica, fid);
      }
      if (!blob.ok()) {
        std::cerr << fmt::format("cfs blob get: {}\n", blob.status().ToString());
        ++bad;
      }
    }
    co_return bad;
  });
  std::cout << fmt::format("{} of {} blobs read back\n", a.fids.size() - failures, a.fids.size());
  return failures == 0 ? 0 : 1;
}

int Get(const GetArgs& a) {
  if (a.fids.size() > 1) return CheckMany(a);
  auto blob = WithClient(a, [&](client::BlobClient& c) {
    return a.replica.empty() ? c.Get(a.fids[0]) : c.GetFrom(a.replica, a.fids[0]);
  });
  if (!blob.ok()) {
    std::cerr << "cfs blob get: " << blob.status().ToString() << "\n";
    return 1;
  }
  if (a.out.empty() || a.out == "-") {
    std::cout.write(blob->data.data(), static_cast<std::streamsize>(blob->data.size()));
    return std::cout ? 0 : 1;
  }
  std::ofstream out(a.out, std::ios::binary | std::ios::trunc);
  out.write(blob->data.data(), static_cast<std::streamsize>(blob->data.size()));
  if (!out) {
    std::cerr << fmt::format("cfs blob get: cannot write {}\n", a.out);
    return 1;
  }
  return 0;
}

struct RmArgs : ClientArgs {
  std::string fid;
};

int Rm(const RmArgs& a) {
  Status s = WithClient(a, [&](client::BlobClient& c) { return c.Delete(a.fid); });
  if (!s.ok()) {
    std::cerr << "cfs blob rm: " << s.ToString() << "\n";
    return 1;
  }
  return 0;
}

struct AssignArgs : ClientArgs {
  uint32_t count = 1;
  client::PutOptions put;
};

// Reserves file ids without writing (SeaweedFS's /dir/assign): for tools
// that upload to the datanodes themselves.
int Assign(const AssignArgs& a) {
  auto r = WithClient(a, [&](client::BlobClient& c) { return c.Assign(a.count, a.put); });
  if (!r.ok()) {
    std::cerr << "cfs blob assign: " << r.status().ToString() << "\n";
    return 1;
  }
  std::cout << fmt::format("{}\tcount {}\tneedle {}\treplicas {}\n", r->fid(), r->count(), r->needle_id(),
                           fmt::join(r->replicas(), ","));
  return 0;
}

struct StatusArgs : ClientArgs {
  bool json = false;
};

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

int ClusterStatus(const StatusArgs& a) {
  auto st = WithClient(a, [](client::BlobClient& c) { return c.ClusterStatus(); });
  if (!st.ok()) {
    std::cerr << "cfs cluster status: " << st.status().ToString() << "\n";
    return 1;
  }
  if (a.json) {
    std::string out = "{\"masters\":[";
    for (int i = 0; i < st->masters_size(); ++i) {
      const auto& m = st->masters(i);
      out += fmt::format("{}{{\"address\":{},\"leader\":{}}}", i ? "," : "", JsonString(m.address()), m.leader());
    }
    out += "],\"nodes\":[";
    for (int i = 0; i < st->nodes_size(); ++i) {
      const auto& n = st->nodes(i);
      out += fmt::format(
          "{}{{\"address\":{},\"data_center\":{},\"rack\":{},\"alive\":{},\"max_block_groups\":{},"
          "\"used_block_groups\":{},\"free_slots\":{}}}",
          i ? "," : "", JsonString(n.address()), JsonString(n.data_center()), JsonString(n.rack()), n.alive(),
          n.max_block_groups(), n.used_block_groups(), n.free_slots());
    }
    out += "],\"block_groups\":[";
    for (int i = 0; i < st->block_groups_size(); ++i) {
      const auto& g = st->block_groups(i);
      std::string replicas;
      for (int r = 0; r < g.replicas_size(); ++r) replicas += (r ? "," : "") + JsonString(g.replicas(r));
      out += fmt::format(
          "{}{{\"id\":{},\"collection\":{},\"placement\":{},\"ttl\":{},\"size_bytes\":{},\"needle_count\":{},"
          "\"garbage_bytes\":{},\"read_only\":{},\"writable\":{},\"replicas\":[{}]}}",
          i ? "," : "", g.info().id(), JsonString(g.info().collection()), JsonString(g.info().placement()),
          JsonString(g.info().ttl()), g.info().size_bytes(), g.info().needle_count(), g.info().garbage_bytes(),
          g.info().read_only(), g.writable(), replicas);
    }
    out += fmt::format("],\"free_slots\":{}}}\n", st->free_slots());
    std::cout << out;
    return 0;
  }
  std::cout << "masters:\n";
  for (const auto& m : st->masters()) std::cout << fmt::format("  {}{}\n", m.address(), m.leader() ? "  (leader)" : "");
  std::cout << fmt::format("datanodes ({}):\n", st->nodes_size());
  for (const auto& n : st->nodes()) {
    std::cout << fmt::format("  {:<22} {}/{}  {}  block groups {}/{}, {} free\n", n.address(), n.data_center(), n.rack(),
                             n.alive() ? "alive" : "DEAD", n.used_block_groups(), n.max_block_groups(), n.free_slots());
  }
  std::cout << fmt::format("block groups ({}):\n", st->block_groups_size());
  for (const auto& g : st->block_groups()) {
    std::string replicas;
    for (const auto& r : g.replicas()) replicas += (replicas.empty() ? "" : ",") + r;
    std::cout << fmt::format("  {:>5}  {:<12} {}  ttl {:<4} {:>12} bytes {:>9} needles  {}  on {}\n", g.info().id(),
                             g.info().collection().empty() ? "-" : g.info().collection(), g.info().placement(),
                             g.info().ttl().empty() ? "-" : g.info().ttl(), g.info().size_bytes(),
                             g.info().needle_count(), g.writable() ? "writable" : (g.info().read_only() ? "read-only" : "not writable"),
                             replicas);
  }
  std::cout << fmt::format("free block group slots: {}\n", st->free_slots());
  return 0;
}

}  // namespace

std::function<int()> SetupBlobPut(CLI::App* app) {
  auto a = std::make_shared<PutArgs>();
  app->add_option("files", a->files, "files to store, one blob each")->required()->check(CLI::ExistingFile);
  app->add_option("--replication", a->put.replication, "placement xyz (default: the master's)");
  app->add_option("--collection", a->put.collection, "collection to store in");
  app->add_option("--ttl", a->put.ttl, "time to live: 3m, 4h, 5d, 1w, 2M, 1y");
  app->add_flag("--sync", a->put.sync, "fsync on every replica before answering");
  AddMasterOption(app, a.get());
  app->footer("Prints FID<TAB>FILE for each stored file.");
  return [a] { return Put(*a); };
}

std::function<int()> SetupBlobGet(CLI::App* app) {
  auto a = std::make_shared<GetArgs>();
  app->add_option("fids", a->fids, "file id, e.g. 3,01637037d6; with several, each is only checked")->required();
  app->add_option("-o,--output", a->out, "write to this file instead of standard output");
  app->add_option("--replica", a->replica, "read from this datanode only (no lookup, no failover)");
  AddMasterOption(app, a.get());
  return [a] { return Get(*a); };
}

std::function<int()> SetupBlobRm(CLI::App* app) {
  auto a = std::make_shared<RmArgs>();
  app->add_option("fid", a->fid, "file id, e.g. 3,01637037d6")->required();
  AddMasterOption(app, a.get());
  return [a] { return Rm(*a); };
}

std::function<int()> SetupBlobAssign(CLI::App* app) {
  auto a = std::make_shared<AssignArgs>();
  app->add_option("-n,--count", a->count, "consecutive file ids to reserve")->capture_default_str();
  app->add_option("--replication", a->put.replication, "placement xyz (default: the master's)");
  app->add_option("--collection", a->put.collection, "collection");
  app->add_option("--ttl", a->put.ttl, "time to live: 3m, 4h, 5d, 1w, 2M, 1y");
  AddMasterOption(app, a.get());
  app->footer("Prints FID<TAB>count N<TAB>needle ID<TAB>replicas A,B: the first of N file ids, nothing written.");
  return [a] { return Assign(*a); };
}

std::function<int()> SetupClusterStatus(CLI::App* app) {
  auto a = std::make_shared<StatusArgs>();
  app->add_flag("--json", a->json, "print JSON instead of text");
  AddMasterOption(app, a.get());
  return [a] { return ClusterStatus(*a); };
}

}  // namespace cfs::cmd
