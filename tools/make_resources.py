#!/usr/bin/env python3
"""Convert the third-party reference tables in shared/na64_limits into the
na64stat JSON resource format (na64stat/resources/*.json).

Usage:
    python tools/make_resources.py [SOURCE_DIR] [OUTPUT_DIR]

SOURCE_DIR defaults to <repo root>/../shared/na64_limits and OUTPUT_DIR to
<repo root>/na64stat/resources.  Standard library only.  Numeric values are
parsed with float() and written unchanged (no sorting, no deduplication, no
interpolation); the mass order of each source file is preserved and recorded
in the "mass_ascending" key.  Output: sorted keys, indent=1, trailing newline.
"""

import csv
import io
import json
import os
import re
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SOURCE = os.path.join(REPO_ROOT, os.pardir, "shared", "na64_limits")
DEFAULT_OUTPUT = os.path.join(REPO_ROOT, "na64stat", "resources")

# Source repositories and commits, as given in shared/na64_limits/README.md.
DARKCAST_NA64_REPO = "nastein/Physics-Projects"
DARKCAST_NA64_COMMIT = "538c2f88461383d622632d150c69888b1d75ae0f"
DARKCAST_NA64_DIR = "DarkPhoton/darkcast/limits/"
DSDECAY_REPO = "Noah-Everett/DS-Decay-Scripts"
DSDECAY_COMMIT = "c7569fe9ddd0d39a4d815c7e63d0e24b2b6f5584"
ESPP_REPO = "ESPP2026-PPG/Quasi-elastic-DM"
ESPP_COMMIT = "39215e42bfc8d4fd89c7926af84e7568be203c32"
DMG4_REPO = "tomeichlersmith/ldmx-sim-technique"
DMG4_COMMIT = "5aac4527e32b8af198a31bc021181978fcc4bb1e"
DMG4_PATH = "sim/sw/DMG4/src/DarkMatter/KFactors.code"

DARKCAST_REF = (
    "darkcast: P. Ilten, Y. Soreq, M. Williams, W. Xue, JHEP 06 (2018) 004, arXiv:1801.04847"
)
BODAS_REF = (
    "A. Bodas, R. Coy, S. J. D. King, 'Solving the electron and muon "
    "g-2 anomalies in Z' models', arXiv:2102.07781 (INSPIRE "
    "Bodas:2021fsy), equation 1"
)
TRANSCRIBED = "values transcribed unchanged (parsed as float); layout changed to JSON"
GM2_DESC = "Delta a_mu = a_mu(exp) - a_mu(SM) = (2.79 +- 0.76)e-9 (equation 1 of Bodas:2021fsy)"
GM2_COMPUTED = (
    "Computed (not digitized) by darkcast AMM.py on a log grid of "
    "100 masses 1 MeV - 100 GeV (one-loop vector contribution, "
    "equation 6 of Endo:2012hp); the column header 'lower' in the "
    "source file is darkcast's generic name and does not mean a "
    "lower edge."
)


def read_lmt(path):
    """Read a darkcast .lmt file: '#' comments, whitespace-separated columns."""
    rows = []
    with open(path) as handle:
        for line in handle:
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            rows.append([float(x) for x in text.split()])
    ncols = {len(r) for r in rows}
    if len(ncols) != 1 or ncols.pop() not in (2, 3):
        raise ValueError("%s: inconsistent or unexpected column count" % path)
    return rows


def read_mass_coupling_csv(path):
    """Read an ESPP2026 csv with header mass,coupling (optionally quoted)."""
    with open(path, newline="") as handle:
        reader = csv.reader(handle, skipinitialspace=True)
        header = next(reader)
        if [h.strip() for h in header] != ["mass", "coupling"]:
            raise ValueError("%s: unexpected header %r" % (path, header))
        rows = [[float(x) for x in r] for r in reader if r]
    if any(len(r) != 2 for r in rows):
        raise ValueError("%s: row with column count != 2" % path)
    return rows


def is_ascending(values):
    return all(b > a for a, b in zip(values, values[1:]))


def order_note(masses):
    if is_ascending(masses):
        return "Masses strictly ascending in the source file (order kept)."
    back = [
        "%.6g -> %.6g (points %d, %d)" % (a, b, i, i + 1)
        for i, (a, b) in enumerate(zip(masses, masses[1:]))
        if b < a
    ]
    dup = sorted({m for m in masses if masses.count(m) > 1})
    text = (
        "Masses NOT monotonic in the source file (a traced curve, not a "
        "function of mass); the source order is kept unchanged, so sort "
        "or clean before interpolating. Backward steps (0-based point "
        "index): %s." % "; ".join(back)
    )
    if dup:
        text += " Repeated mass values [GeV]: %s." % ", ".join(
            "%.6g (x%d)" % (m, masses.count(m)) for m in dup
        )
    return text


def curve(
    name, description, source, coupling, cl, mass_variable, rows, notes, two_sided=False, extra=None
):
    masses = [r[0] for r in rows]
    out = {
        "name": name,
        "description": description,
        "source": source,
        "coupling": coupling,
        "confidence_level": cl,
        "mass_unit": "GeV",
        "mass_variable": mass_variable,
        "mass_gev": masses,
        "mass_ascending": is_ascending(masses),
        "lower": [r[1] for r in rows],
        "upper": [r[2] for r in rows] if two_sided else None,
        "notes": " ".join([notes, order_note(masses), "Number of points: %d." % len(rows)]),
    }
    if extra:
        out.update(extra)
    return out


def darkcast_na64(src, fname, name, description, reference, notes, two_sided):
    rows = read_lmt(os.path.join(src, fname))
    if two_sided != (len(rows[0]) == 3):
        raise ValueError("%s: column count does not match expectation" % fname)
    source = {
        "repository": DARKCAST_NA64_REPO,
        "path": DARKCAST_NA64_DIR + fname[len("darkcast_") :],
        "commit": DARKCAST_NA64_COMMIT,
        "reference": reference,
        "note": TRANSCRIBED + "; digitized from the publication figure by the "
        "darkcast authors (" + DARKCAST_REF + ")",
    }
    return curve(
        name, description, source, "epsilon", 0.9, "m_A'", rows, notes, two_sided=two_sided
    )


def gm2(src, fname, repo_path, name, model, edge):
    rows = read_lmt(os.path.join(src, fname))
    coupling = "g_z_prime" if model == "lmutau" else "epsilon"
    who = (
        "L_mu - L_tau gauge boson Z' (coupling g_Z')"
        if model == "lmutau"
        else "dark photon A' (kinetic mixing epsilon)"
    )
    what = {
        "2l": "lower edge of the 2-sigma preferred band, Delta a_mu = (2.79 - 2*0.76)e-9",
        "2u": "upper edge of the 2-sigma preferred band, Delta a_mu = (2.79 + 2*0.76)e-9",
        "5u": "5-sigma upper bound, Delta a_mu = (2.79 + 5*0.76)e-9 "
        "(couplings above are disfavoured)",
    }[edge]
    description = "(g-2)_mu curve for a %s: %s; band edges from %s." % (who, what, GM2_DESC)
    source = {
        "repository": DSDECAY_REPO,
        "path": repo_path,
        "commit": DSDECAY_COMMIT,
        "reference": BODAS_REF,
        "note": TRANSCRIBED + "; computed with " + DARKCAST_REF,
    }
    notes = GM2_COMPUTED
    if model == "lmutau":
        notes += " Recast by darkcast from the dark-photon curve to the L_mu - L_tau model."
    mass_variable = "m_Z'" if model == "lmutau" else "m_A'"
    return curve(name, description, source, coupling, None, mass_variable, rows, notes)


def espp(src, fname, name, description, reference, notes, cl, extra=None):
    rows = read_mass_coupling_csv(os.path.join(src, fname))
    source = {
        "repository": ESPP_REPO,
        "path": "data/" + fname[len("espp2026_data_") :],
        "commit": ESPP_COMMIT,
        "reference": reference,
        "note": TRANSCRIBED + "; data compiled for the ESPP 2026 briefing "
        "(not an official NA64 or HEPData release)",
    }
    return curve(name, description, source, "y", cl, "m_chi", rows, notes, extra=extra)


def kfactors(src):
    fname = "dmg4_KFactor_IWW_over_ETL_darkphoton_Pb.csv"
    with open(os.path.join(src, fname), newline="") as handle:
        lines = [row for row in handle if row.strip() and not row.startswith("#")]
    reader = csv.reader(io.StringIO("".join(lines)))
    header = next(reader)
    if header[0] != "mA_MeV":
        raise ValueError("%s: unexpected first column %r" % (fname, header[0]))
    energies = []
    for col in header[1:]:
        match = re.fullmatch(r"K_E0_([0-9.]+)GeV", col)
        if not match:
            raise ValueError("%s: unexpected column %r" % (fname, col))
        energies.append(float(match.group(1)))
    masses, table = [], []
    for row in reader:
        if len(row) != len(header):
            raise ValueError("%s: row %r has wrong length" % (fname, row))
        masses.append(float(row[0]))
        table.append([float(x) for x in row[1:]])
    if not is_ascending(masses) or not is_ascending(energies):
        raise ValueError("%s: grid not ascending" % fname)
    if (len(masses), len(energies)) != (44, 8):
        raise ValueError("%s: expected 44 x 8, got %d x %d" % (fname, len(masses), len(energies)))
    return {
        "name": "dmg4_kfactors_pb",
        "description": (
            "K = sigma_IWW / sigma_ETL for vector A' (dark photon) "
            "bremsstrahlung e- Pb -> e- Pb A': ratio of DMG4's analytic "
            "improved Weizsacker-Williams (IWW) cross section to the exact "
            "tree-level (ETL) one, on a grid of A' mass x beam energy E0. "
            "DMG4 returns sigma_IWW / K. Rows: masses (mass_mev); columns: "
            "beam energies (beam_energy_gev)."
        ),
        "source": {
            "repository": DMG4_REPO,
            "path": DMG4_PATH,
            "commit": DMG4_COMMIT,
            "reference": "DMG4 v1.2, KFactors.code KfactorApproximate",
            "note": "transcribed values unchanged (parsed as float) from the "
            "DMG4 source table; copy of DMG4 inside " + DMG4_REPO,
        },
        "target": "Pb",
        "mass_mev": masses,
        "beam_energy_gev": energies,
        "k_iww_over_etl": table,
        "notes": (
            "Grid %d masses (1 MeV - 3 GeV, ascending) x %d beam energies "
            "(20 - 160 GeV, ascending). K is not monotonic in mass around "
            "100-500 MeV and the 1 MeV row rises slightly at 160 GeV; these "
            "are features of the source table, kept unchanged." % (len(masses), len(energies))
        ),
    }


def build(src):
    out = {}
    out["dmg4_kfactors_pb"] = kfactors(src)

    inv = "90% CL upper limit on epsilon vs m_A' for A' -> invisible (NA64e, "
    out["na64e_invisible_2019"] = darkcast_na64(
        src,
        "darkcast_NA64_NA642019imj.lmt",
        "na64e_invisible_2019",
        inv + "2016-2018 data, 2.84e11 EOT).",
        "NA64 Collaboration, D. Banerjee et al., 'Dark matter search in "
        "missing energy events with NA64', PRL 123 (2019) 121801, "
        "arXiv:1906.00176 (figure 3)",
        "One-sided limit: 'lower' is the upper limit on epsilon (epsilon "
        "above it excluded). darkcast key NA64:2019imj.",
        False,
    )
    out["na64e_invisible_2017"] = darkcast_na64(
        src,
        "darkcast_NA64_Banerjee2017hhz.lmt",
        "na64e_invisible_2017",
        inv + "2016 data, 4.3e10 EOT).",
        "NA64 Collaboration, D. Banerjee et al., PRD 97 (2018) 072002, arXiv:1710.00971",
        "One-sided limit: 'lower' is the upper limit on epsilon. The last "
        "point (epsilon = 9.9998e-3) is where the digitized curve meets the "
        "figure edge at epsilon = 1e-2.",
        False,
    )
    out["na64e_invisible_2016"] = darkcast_na64(
        src,
        "darkcast_NA64_Banerjee2016tad.lmt",
        "na64e_invisible_2016",
        inv + "2016 first run, 2.75e9 EOT).",
        "NA64 Collaboration, D. Banerjee et al., PRL 118 (2017) 011802, arXiv:1610.02988",
        "One-sided limit: 'lower' is the upper limit on epsilon. Coarse "
        "digitization; the last point (0.4 GeV, epsilon = 1e-2) lies on the "
        "figure edge.",
        False,
    )

    vis = (
        "90% CL excluded region for A'/X17 -> e+e- (NA64e visible mode): "
        "epsilon between 'lower' and 'upper' is excluded at each m_A' ("
    )
    out["na64e_visible_2018"] = darkcast_na64(
        src,
        "darkcast_NA64_Banerjee2018vgk.lmt",
        "na64e_visible_2018",
        vis + "5.4e10 EOT).",
        "NA64 Collaboration, D. Banerjee et al., PRL 120 (2018) 231802, arXiv:1803.07748",
        "Two-sided: lower/upper are the two epsilon boundaries of the "
        "excluded region; they meet at the largest mass.",
        True,
    )
    out["na64e_visible_2019"] = darkcast_na64(
        src,
        "darkcast_NA64_Banerjee2019hmi.lmt",
        "na64e_visible_2019",
        vis + "8.4e10 EOT).",
        "NA64 Collaboration, D. Banerjee et al., 'Improved limits on a "
        "hypothetical X(16.7) boson and a dark photon decaying into e+e- "
        "pairs', PRD 101 (2020) 071101, arXiv:1912.11389 (figure 5)",
        "Two-sided: lower/upper are the two epsilon boundaries of the "
        "excluded region; they meet at the largest mass.",
        True,
    )

    lmt_dir = "darkcast/recast/limits/Lmu-Ltau_boson/"
    dp_dir = "darkcast/limits/"
    for suffix, edge, tag in (
        ("_2l", "2l", "2sigma_lower"),
        ("_2u", "2u", "2sigma_upper"),
        ("", "5u", "5sigma_upper"),
    ):
        base = "AMMmu_Bodas2021fsy%s.lmt" % suffix
        name = "gm2_lmutau_" + tag
        out[name] = gm2(
            src, "darkcast_recast_LmuLtau_" + base, lmt_dir + base, name, "lmutau", edge
        )
        name = "gm2_darkphoton_" + tag
        out[name] = gm2(src, "darkcast_darkphoton_" + base, dp_dir + base, name, "darkphoton", edge)

    y_def = "y = alpha_D eps^2 (m_chi/m_A')^4 vs m_chi, with alpha_D = 0.1 and m_A' = 3 m_chi"
    relic_extra = {"alpha_d": 0.1, "mass_ratio_aprime_over_chi": 3.0}
    for kind, label in (
        ("scalar", "complex scalar"),
        ("majorana", "Majorana fermion"),
        ("pseudodirac", "pseudo-Dirac fermion"),
    ):
        name = "relic_target_" + kind
        out[name] = espp(
            src,
            "espp2026_data_relic-target-%s.csv" % kind,
            name,
            "Thermal-relic target line for %s light dark matter chi: %s." % (label, y_def),
            "ESPP 2026 Physics Preparatory Group compilation ("
            + ESPP_REPO
            + "); original relic-abundance calculation not named in the source",
            "Not a limit: the y for which the thermal relic abundance "
            "matches the observed DM density.",
            None,
            extra=relic_extra,
        )
    out["babar_monophoton"] = espp(
        src,
        "espp2026_data_Constraints_BC2_BaBar.csv",
        "babar_monophoton",
        "BaBar mono-photon (e+e- -> gamma A', A' -> chi chi) limit "
        "expressed as " + y_def + " (PBC benchmark BC2); for plot "
        "completeness.",
        "BaBar Collaboration, J. P. Lees et al., PRL 119 (2017) 131804, "
        "arXiv:1702.03327, as recast to y in the ESPP 2026 compilation (" + ESPP_REPO + ")",
        "Upper limit on y (y above excluded). confidence_level 0.9 is that "
        "of the BaBar publication; the source file itself does not state "
        "it. Near m_chi ~ 7.9 GeV the traced curve runs vertically "
        "(repeated masses) and ends with a spike at 7.98 GeV and a final "
        "point back at 7.954 GeV.",
        0.9,
        extra=relic_extra,
    )
    return out


def main(argv):
    src = os.path.abspath(argv[1] if len(argv) > 1 else DEFAULT_SOURCE)
    dst = os.path.abspath(argv[2] if len(argv) > 2 else DEFAULT_OUTPUT)
    os.makedirs(dst, exist_ok=True)
    for name, obj in sorted(build(src).items()):
        path = os.path.join(dst, name + ".json")
        with open(path, "w") as handle:
            handle.write(json.dumps(obj, sort_keys=True, indent=1) + "\n")
        print("wrote", os.path.relpath(path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
