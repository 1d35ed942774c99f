"""Writes seccomp-rules.h for scripts/seccomp-loop.c: the rules of a Docker
format profile that apply to a uid-0 program with hakoniwa's default
capabilities on x86-64, as C data for libseccomp.

usage: python3 scripts/seccomp-rules.py PROFILE.json > seccomp-rules.h
"""
import json
import sys

# What hakoniwa's default leaves a uid-0 program that the profile asks about.
HELD = {"CAP_AUDIT_WRITE", "CAP_SYS_CHROOT"}
OPS = {"SCMP_CMP_EQ": "SCMP_CMP_EQ", "SCMP_CMP_NE": "SCMP_CMP_NE",
       "SCMP_CMP_LT": "SCMP_CMP_LT", "SCMP_CMP_LE": "SCMP_CMP_LE",
       "SCMP_CMP_GT": "SCMP_CMP_GT", "SCMP_CMP_GE": "SCMP_CMP_GE"}


def applies(entry):
    includes, excludes = entry.get("includes") or {}, entry.get("excludes") or {}
    if not set(includes.get("caps") or []) <= HELD:
        return False
    if set(excludes.get("caps") or []) & HELD:
        return False
    if includes.get("arches") and "amd64" not in includes["arches"]:
        return False
    return "amd64" not in (excludes.get("arches") or [])


profile = json.load(open(sys.argv[1]))
print(f"#define DEFAULT_ERRNO {profile.get('defaultErrnoRet', 1)}")
print("static const struct rule RULES[] = {")
for entry in filter(applies, profile["syscalls"]):
    allow = entry["action"] == "SCMP_ACT_ALLOW"
    errno_ret = entry.get("errnoRet", 1)
    args = entry.get("args") or []
    if any(arg["op"] not in OPS for arg in args):
        sys.exit(f"seccomp-rules.py: an operator this script does not map: {args}")
    c_args = ", ".join(f"{{{a['index']}, {OPS[a['op']]}, {a['value']}ULL}}" for a in args)
    for name in entry["names"]:
        print(f'  {{"{name}", {int(allow)}, {errno_ret}, {len(args)}, {{{c_args}}}}},')
print("};")
