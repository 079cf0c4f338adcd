// `cfs blockgroup inspect` and `cfs blockgroup fix`: offline tools for block
// group files (.dat/.idx, SeaweedFS volume format v3), for after a crash.
#include <filesystem>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "common/strings.h"
#include "cmd/commands.h"
#include "common/env.h"
#include "datanode/scrub.h"

namespace cfs::cmd {
namespace {

namespace fs = std::filesystem;

std::string SiblingIdx(const std::string& dat) {
  fs::path p(dat);
  return p.replace_extension(".idx").string();
}

void PrintProblems(const std::vector<datanode::ScrubProblem>& problems) {
  for (const auto& p : problems) std::cout << fmt::format("PROBLEM at offset {}: {}\n", p.offset, p.message);
}

int Inspect(const std::string& path, std::string idx_path, int offset_bytes, bool quiet) {
  Env* env = Env::Default();
  if (path.ends_with(".idx")) {
    auto report = datanode::ScrubIdx(env, path, offset_bytes);
    if (!report.ok()) {
      std::cerr << "cfs blockgroup inspect: " << report.status().ToString() << "\n";
      return 2;
    }
    std::cout << fmt::format("index {}: {} entries ({}-byte offsets), {} deletions, {} live ids\n", path,
                             report->idx_entries, offset_bytes, report->idx_deletions, report->idx_live);
    PrintProblems(report->problems);
    std::cout << (report->clean() ? "clean\n" : fmt::format("{} problem(s)\n", report->problems.size()));
    return report->clean() ? 0 : 1;
  }
  if (offset_bytes != 4) {
    std::cerr << "cfs blockgroup inspect: --offset-bytes applies to an .idx only\n";
    return 2;
  }
  if (idx_path.empty() && env->Exists(SiblingIdx(path))) idx_path = SiblingIdx(path);
  if (!quiet) std::cout << fmt::format("{:>12}  {:>16}  {:>8}  {:>10}  {:>5}  {}\n", "offset", "needle", "cookie", "size", "flags", "checksum");
  auto report = datanode::ScrubDat(env, path, idx_path, [&](const datanode::ScannedRecord& r) {
    if (quiet) return;
    std::string check = r.checksum_ok ? "ok" : (r.decoded ? fmt::format("BAD stored {:08x} computed {:08x}", r.needle.checksum,
                                                                        datanode::NeedleChecksum(r.needle.data))
                                                          : "UNDECODABLE");
    std::string kind = r.needle.size == 0 ? "  tombstone" : "";
    std::string name = (r.needle.flags & datanode::kFlagName) ? "  name=" + Quoted(r.needle.name) : "";
    std::cout << fmt::format("{:>12}  {:>16x}  {:08x}  {:>10}  0x{:02x}  {}{}{}\n", r.offset, r.needle.id.value(),
                             r.needle.cookie.value(), r.needle.size, r.needle.flags, check, kind, name);
  });
  if (!report.ok()) {
    std::cerr << "cfs blockgroup inspect: " << report.status().ToString() << "\n";
    return 2;
  }
  const auto& sb = report->superblock;
  std::cout << fmt::format("superblock: version {}, replication {}, ttl {}, compaction revision {}, extra {} bytes\n",
                           sb.version, sb.placement.ToString(), sb.ttl.empty() ? "none" : sb.ttl.ToString(),
                           sb.compaction_revision, sb.extra.size());
  std::cout << fmt::format("{}: {} bytes, {} needle(s), {} tombstone(s)", path, report->dat_bytes, report->needles,
                           report->tombstones);
  if (!idx_path.empty()) {
    std::cout << fmt::format("; index {}: {} entries, {} deletions, {} live", idx_path, report->idx_entries,
                             report->idx_deletions, report->idx_live);
  } else {
    std::cout << "; no index";
  }
  std::cout << "\n";
  PrintProblems(report->problems);
  std::cout << (report->clean() ? "clean\n" : fmt::format("{} problem(s)\n", report->problems.size()));
  return report->clean() ? 0 : 1;
}

int Fix(const std::string& dat, std::string idx_path) {
  if (!dat.ends_with(".dat")) {
    std::cerr << "cfs blockgroup fix: give the .dat file\n";
    return 2;
  }
  if (idx_path.empty()) idx_path = SiblingIdx(dat);
  std::vector<datanode::ScrubProblem> problems;
  auto n = datanode::RebuildIdx(Env::Default(), dat, idx_path, &problems);
  if (!n.ok()) {
    std::cerr << "cfs blockgroup fix: " << n.status().ToString() << "\n";
    return 2;
  }
  PrintProblems(problems);
  std::cout << fmt::format("rebuilt {} with {} entries from {}\n", idx_path, *n, dat);
  return 0;
}

}  // namespace

std::function<int()> SetupBlockGroupInspect(CLI::App* app) {
  struct Args {
    std::string path, idx;
    int offset_bytes = 4;
    bool quiet = false;
  };
  auto a = std::make_shared<Args>();
  app->add_option("path", a->path, "a .dat file (checked with its .idx if present) or an .idx file alone")
      ->required()
      ->check(CLI::ExistingFile);
  app->add_option("--idx", a->idx, "the index to check the .dat against (default: the .idx beside it)")
      ->check(CLI::ExistingFile);
  app->add_option("--offset-bytes", a->offset_bytes, "offset width of an .idx: 4, or 5 for SeaweedFS 5BytesOffset builds")
      ->check(CLI::IsMember({4, 5}))
      ->capture_default_str();
  app->add_flag("-q,--quiet", a->quiet, "print the summary and problems only, not each needle");
  app->footer("Exit status: 0 clean, 1 problems found, 2 could not check.");
  return [a] { return Inspect(a->path, a->idx, a->offset_bytes, a->quiet); };
}

std::function<int()> SetupBlockGroupFix(CLI::App* app) {
  struct Args {
    std::string dat, idx;
  };
  auto a = std::make_shared<Args>();
  app->add_option("path", a->dat, "the .dat file whose index to rebuild")->required()->check(CLI::ExistingFile);
  app->add_option("--idx", a->idx, "where to write the index (default: the .idx beside the .dat)");
  app->footer("Run it only on a block group no datanode has open.");
  return [a] { return Fix(a->dat, a->idx); };
}

}  // namespace cfs::cmd
