"""Check that an x86-64 ELF file (a compiled extension) runs on every CPU of a baseline level.

    python tools/check_isa.py --level x86-64-v2 annoylib.cpython-311-x86_64-linux-gnu.so

Every instruction of every executable section is decoded (iced-x86) and the CPUID features it
needs must all belong to the level (the x86-64 psABI's micro-architecture levels, as gcc's
``-march=x86-64-v2``); the exit code is 1 when some do not, with a count and an example of each
feature beyond the level. A file built with ``-march=native`` on a newer CPU typically fails
with AVX, AVX2, FMA or AVX-512 instructions.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from iced_x86 import Code, CpuidFeature, Decoder, Formatter, FormatterSyntax, Instruction

FEATURE_NAMES: dict[int, str] = {
    getattr(CpuidFeature, name): name for name in dir(CpuidFeature) if name.isupper()
}

# The psABI's baseline, plus what every x86-64 CPU runs without a psABI name: the 8086-486
# integer instructions, CPUID, RDTSC, CLFLUSH, and hints in NOP space (PAUSE, the multi-byte
# NOP of code padding, and ENDBR64 of CET, which older CPUs execute as NOP).
_X86_64 = frozenset(
    {"INTEL8086", "INTEL186", "INTEL286", "INTEL386", "INTEL486", "X64", "CPUID", "TSC"}
    | {"CLFSH", "PAUSE", "MULTIBYTENOP", "CET_IBT"}
    | {"CMOV", "CX8", "FPU", "FPU287", "FPU387", "FXSR", "MMX", "SSE", "SSE2", "SYSCALL"}
)
_V2 = _X86_64 | {"CMPXCHG16B", "POPCNT", "SSE3", "SSSE3", "SSE4_1", "SSE4_2"}
_V3 = _V2 | {"AVX", "AVX2", "BMI1", "BMI2", "F16C", "FMA", "LZCNT", "MOVBE", "XSAVE"}
_V4 = _V3 | {"AVX512F", "AVX512BW", "AVX512CD", "AVX512DQ", "AVX512VL"}
LEVELS: dict[str, frozenset[str]] = {
    "x86-64": _X86_64,
    "x86-64-v2": _V2,
    "x86-64-v3": _V3,
    "x86-64-v4": _V4,
}


@dataclass
class Report:
    """What an ELF file's code needs beyond a level."""

    level: str
    instructions: int = 0
    beyond: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # feature -> "ADDRESS: instruction"
    undecodable: int = 0

    @property
    def ok(self) -> bool:
        return not self.beyond and not self.undecodable

    def summary(self) -> str:
        if self.ok:
            return f"{self.instructions} instructions, none beyond {self.level}"
        lines = [f"{self.instructions} instructions; beyond {self.level}:"]
        lines += [
            f"  {name}: {count} (e.g. {self.examples[name]})"
            for name, count in self.beyond.most_common()
        ]
        if self.undecodable:
            lines.append(f"  {self.undecodable} bytes that decode to no instruction")
        return "\n".join(lines)


def check(path: Path, level: str) -> Report:
    """Decode every executable section of the x86-64 ELF file ``path`` against ``level``."""
    if level not in LEVELS:
        raise ValueError(f"level: unknown {level!r}; one of {', '.join(LEVELS)}")
    allowed = LEVELS[level]
    report = Report(level)
    formatter = Formatter(FormatterSyntax.GAS)
    with path.open("rb") as file:
        try:
            elf = ELFFile(file)
        except ELFError as error:
            raise ValueError(f"{path}: not an ELF file ({error})") from None
        if elf["e_machine"] != "EM_X86_64":
            raise ValueError(f"{path}: not an x86-64 ELF file ({elf['e_machine']})")
        for section in elf.iter_sections():
            if not section["sh_flags"] & SH_FLAGS.SHF_EXECINSTR:
                continue
            instruction = Instruction()
            decoder = Decoder(64, section.data(), ip=section["sh_addr"])
            while decoder.can_decode:
                decoder.decode_out(instruction)
                if instruction.code == Code.INVALID:
                    report.undecodable += 1
                    continue
                report.instructions += 1
                for feature in instruction.cpuid_features():
                    name = FEATURE_NAMES[feature]
                    if name not in allowed:
                        report.beyond[name] += 1
                        report.examples.setdefault(
                            name, f"{instruction.ip:#x}: {formatter.format(instruction)}"
                        )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument("--level", choices=LEVELS, default="x86-64-v2")
    args = parser.parse_args(argv)
    failed = False
    for path in args.files:
        try:
            report = check(path, args.level)
        except (OSError, ValueError) as error:  # a missing file, not ELF, not x86-64
            print(f"check_isa: {error}", file=sys.stderr)
            return 2
        print(f"{path}: {report.summary()}")
        failed |= not report.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
