"""Reading a directory group: the `ldap` directory reading the 1,000 people of a nested group from a
real OpenLDAP (Debian's slapd) on 127.0.0.1 over StartTLS, 200 entries a page, against OpenLDAP's
own client (`ldapsearch -E pr=200/noprompt`) paging through the same people search, in the same run.

The server is the integration test's (tests/integration/test_openldap.py: its config, its 1,000
people and 50 outsiders, its nested groups), started once in a temporary folder. The two are run
in turn `--repeat` times; the medians are reported. ldapsearch's time includes starting its
process (a few ms); ours runs in this process, ldap3 already imported.
Run: `python benchmarks/directory.py [--repeat N]` (exit 1 when the roster or the paging is wrong).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SLAPD = "/usr/sbin/slapd"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    missing = [p for p in (SLAPD, "ldapadd", "ldapsearch") if not shutil.which(p)]
    if missing:
        sys.exit(f"{', '.join(missing)}: not installed (Debian: slapd, ldap-utils); slapd is what is read")
    sys.path.insert(0, str(REPO))
    from newsletter.delivery.directories.base import read_roster
    from newsletter.delivery.directories.ldap import Ldap
    from tests.integration import test_openldap as directory

    with tempfile.TemporaryDirectory() as folder, directory.running_slapd(SLAPD, Path(folder)) as slapd:
        settings = directory.service_settings(slapd)
        os.environ["LDAP_TEST_PASSWORD"] = directory.SERVICE_PASSWORD
        ours, theirs, pages = [], [], []
        for _ in range(args.repeat):  # interleaved: a shared machine's noise hits both alike
            since = slapd.log.stat().st_size
            started = time.perf_counter()
            members = len(read_roster(Ldap(settings)).members)  # connect, StartTLS, bind, every search
            seconds = time.perf_counter() - started
            ours.append(seconds)
            pages = max(slapd.pages_answered(since).values(), key=sum)
            theirs.append(_ldapsearch(directory, slapd, settings.page_size))
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    print(f"roster: {members:,} members; the people search in {len(pages)} pages of at most "
          f"{settings.page_size} ({sum(pages):,} entries); medians of {args.repeat}")
    print(f"ldapsearch -ZZ -E pr={settings.page_size}/noprompt (baseline): {theirs_s * 1e3:,.0f} ms")
    print(f"newsletter read_roster (ldap, StartTLS):             {ours_s * 1e3:,.0f} ms "
          f"({ours_s / theirs_s:.2f} of ldapsearch's time)")
    wrong = members != directory.PEOPLE - 1 or len(pages) < 2 or max(pages) > settings.page_size
    return 1 if wrong else 0


def _ldapsearch(directory, slapd, page_size: int) -> float:
    """Seconds for OpenLDAP's client to page through every person under the suffix, the same
    attributes asked for, as the same account over StartTLS."""
    command = ["ldapsearch", "-LLL", "-x", "-ZZ", "-H", slapd.url, "-D", directory.SERVICE_DN,
               "-w", directory.SERVICE_PASSWORD, "-b", directory.SUFFIX, "-E", f"pr={page_size}/noprompt",
               "(objectClass=person)", "displayName", "givenName", "mail", "ou", "preferredLanguage"]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, timeout=60,
                   env={**os.environ, "LDAPTLS_CACERT": str(slapd.ca_file)})
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
