"""Fetch a catalogue model's files at their pinned revisions and check each against its pin (size and sha256).

Used by scripts/pack_models.sh (the site's compact packs) and scripts/clip_example.sh (the CLIP lab's first-visit
example), both from NLU_LAB_HUB: huggingface.co on GitHub's runner, the loopback hub in the tests. Files kept from an
earlier run are checked again and fetched again when they are not the pinned ones.

  python3 scripts/fetch_pinned.py CATALOGUE_JSON HUB SOURCES_DIR REPO [UNVERIFIED_REPOS]

prints "verified" or "not verified" and leaves the files in SOURCES_DIR/REPO. A file that does not match its pin
stops it (exit 1) unless REPO is among UNVERIFIED_REPOS (the tests' synthetic CLIP): then it is "not verified".
"""
import hashlib, json, os, shutil, sys, urllib.parse, urllib.request


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def fetch(url, dest):
    """Download to dest.part, then rename: a half-written file never looks fetched."""
    part = dest + '.part'
    with urllib.request.urlopen(urllib.request.Request(url, headers={'User-Agent': 'nlu-lab-bundle'}), timeout=60) as r, open(part, 'wb') as f:
        shutil.copyfileobj(r, f, 1 << 20)
    os.replace(part, dest)


def matches(path, pin):
    if pin['sha256'] is None:
        return None
    return os.path.getsize(path) == (pin['size'] or os.path.getsize(path)) and sha256(path) == pin['sha256']


def fetch_source(entry, hub, sources, allow_unverified, who='fetch_pinned.py'):
    """Fetch `entry` (a model of `nlu-lab catalogue`) into sources/<repo>; returns (its folder, verified)."""
    repo, hub = entry['repo'], hub.rstrip('/')
    source = os.path.join(sources, repo)
    os.makedirs(source, exist_ok=True)
    verified = True
    for f in entry['files']:
        path = os.path.join(source, f['name'])
        if os.path.exists(path) and matches(path, f) is False:
            os.remove(path)  # kept from an earlier run, and not the pinned file (any more): fetch it again
        if not os.path.exists(path):
            url = f"{hub}/{repo}/resolve/{urllib.parse.quote(f['revision'], safe='')}/{f['name']}"
            print(f'[bundle] fetching {url}', flush=True)
            fetch(url, path)
        ok = matches(path, f)
        if ok is not True:
            why = 'it has no pin' if ok is None else f"its sha256 {sha256(path)} is not the pinned {f['sha256']}"
            if not allow_unverified:
                sys.exit(f"{who}: {repo}/{f['name']} from {hub}: {why}; not used "
                         '(NLU_LAB_BUNDLE_UNVERIFIED=repo uses it anyway, marked not verified)')
            print(f"[bundle] {repo}/{f['name']}: {why}: used as not verified", flush=True)
            verified = False
    return source, verified


if __name__ == '__main__':
    catalogue_json, hub, sources, repo = sys.argv[1:5]
    unverified = set((sys.argv[5] if len(sys.argv) > 5 else '').replace(',', ' ').split())
    models = {m['repo']: m for m in json.load(open(catalogue_json))['models']}
    if repo not in models:
        sys.exit(f'fetch_pinned.py: {repo} is not a catalogue model ({", ".join(models)})')
    _, verified = fetch_source(models[repo], hub, sources, repo in unverified)
    print('verified' if verified else 'not verified')
