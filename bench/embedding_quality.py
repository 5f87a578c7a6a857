#!/usr/bin/env python3
"""External judgement of word-vector neighbour quality, with gensim's Word2Vec on the same text as a peer.

  python3 bench/embedding_quality.py --corpus data/bible/es-en/train.tsv --side source --lang es \\
      [--vectors LABEL=FILE ...] [--random-baseline] [--queries 300] [--k 10] [--seed 1] \\
      [--word2vec-arch cbow|sg] [--word2vec-dim 200] [--word2vec-epochs 20] [--word2vec-window 5] \\
      [--export-word2vec FILE] [--examples oro,plata,rey,agua,hijo]

Vector files are word2vec TEXT format: a first line "N DIM", then "word v1 v2 ...". Every run trains
Word2Vec (label "word2vec") on the chosen column of the TSV (0 = source, 1 = target), tokenised like the
service's `word` tokenizer: ICU word breaks with case kept, pieces that are only spaces dropped. The
regex below (a run of word characters, joined through an inner apostrophe, period, colon or middle dot,
or one other non-space character) gives the same tokens as ICU's root-locale word break iterator on
every line of both columns of data/bible/es-en/train.tsv (checked with PyICU); tokens without a letter or
digit (punctuation) are then dropped.

Word2Vec defaults: CBOW, vector_size 200, window 5, min_count 2, negative 5, 20 epochs, workers 2, seed 1.
On the Bible train set CBOW beat skip-gram on both sides (hit rate, 10 epochs: Spanish 0.159 vs 0.141,
English 0.252 vs 0.195; skip-gram's nearest words are rarer names and spellings, and it got worse at 20
epochs); CBOW at 20 epochs edged 10 (0.173 / 0.264), and vector_size 100 or 300 changed the hit rate by
under 0.005. With 2 workers gensim's training is not bit-for-bit repeatable; expect run-to-run wobble of
about a point. --random-baseline adds Gaussian vectors (label "random") over the
corpus vocabulary: a floor that any useful vector set must clear.

Fairness. All sets are judged on the same query words and search the same candidate vocabulary: the
intersection of every set's vocabulary with the corpus words that contain a letter and occur at least
twice. Neighbours are the k nearest candidates by cosine similarity, the query itself excluded.

The judge (English, --lang en), from WordNet 3.0 (Debian wordnet-base, read offline by NLTK):
  * lemmas(w): WordNet base forms of lowercase(w) under every part of speech (morphy).
  * related(a, b): the pair shares a lemma (king/kings, LORD/Lord), or some synset of b is a synset of a
    (synonyms) or lies within two hypernym/hyponym steps of one (parents, grandparents, children,
    grandchildren and siblings: gold/silver under noble_metal), or is one step away by similar-to,
    also-see, part/member/substance meronymy or holonymy, or holds a lemma that is derivationally related
    to, an antonym of, or a pertainym of a lemma of a.
  * wup(a, b): the best Wu-Palmer similarity over pairs of noun synsets or pairs of verb synsets of a and
    b: 2*D(c) / (d(s1,c) + d(s2,c) + 2*D(c)), over common hypernyms c, with D(c) = longest path from c to
    a root + 1 and d the shortest hypernym distance; 1 for a shared synset; 0 when no same-POS pair has
    a common hypernym (also whenever either word has only adjective or adverb senses, which WordNet does
    not arrange in a hierarchy).
  * Queries: the N most frequent candidates that have a synset, contain a letter and are not in the
    built-in stopword list (case variants of an earlier query are skipped).
Spanish (--lang es) goes through Debian's FreeDict Spanish-English dictionary (dictd files, read here):
  * heads(w): the dictionary headword lowercase(w) if present; otherwise its singular/masculine forms
    (-s, -es dropped; -a, -as -> -o); otherwise regular verb endings mapped to an infinitive (-ó, -aron,
    -aba, -ado, -ando ... -> -ar/-er/-ir) that is a headword.
  * trans(w): the English translations of heads(w) that WordNet knows ("to " dropped, spaces -> _).
  * related(a, b): heads(a) and heads(b) share a headword, or trans(a) and trans(b) share a word, or some
    translation pair is related as in English. wup(a, b): the best English wup over translation pairs.
  * Queries: the N most frequent candidates, not stopwords, with at least one translation in WordNet.
A neighbour the judge cannot look up (no synset / no translation) scores 0 and counts as not related,
so every set is scored on exactly k neighbours per query; "judgeable" reports the share that could be
looked up.

Scores for a vector set: hit rate = mean over queries of the share of its top-k neighbours that are
related; mean WuP = mean over queries of the mean wup of its top-k neighbours. The headline is the hit
rate: its floor is near zero (random vectors score a few percent), so it reads directly as "the share of
neighbours a dictionary confirms", and it covers adjectives, adverbs and derivational families, which
have no Wu-Palmer hierarchy. Mean WuP gives partial credit for loosely related nouns and verbs but its
floor is high (most noun pairs meet under a generic hypernym such as entity or physical_object), and the
max over all senses lifts polysemous words. Both come with a 95% interval (1.96 standard errors over
queries). Also reported: top-k overlap with word2vec = mean over queries of |top-k(set) & top-k(word2vec)|/k.

Output: a table, example neighbours, and a last line `RESULT {json}`. Progress goes to stderr.
"""
import argparse
import collections
import gzip
import json
import math
import os
import re
import sys
import tempfile
import time

if os.path.exists('/usr/bin/python3') and os.path.realpath(sys.executable) != os.path.realpath('/usr/bin/python3') \
        and not os.environ.get('EMBEDDING_QUALITY_REEXEC'):
    try:
        import gensim  # noqa: F401
        import nltk  # noqa: F401
    except ImportError:  # a python3 without Debian's dist-packages: use Debian's
        os.environ['EMBEDDING_QUALITY_REEXEC'] = '1'
        os.execv('/usr/bin/python3', ['/usr/bin/python3'] + sys.argv)

import numpy as np

try:
    from gensim.models import Word2Vec
    from nltk.corpus.reader.wordnet import WordNetCorpusReader
except ImportError as e:
    sys.exit(f'embedding_quality: {e}; apt-get install -y python3-gensim python3-nltk wordnet-base '
             'dict-freedict-spa-eng')

WORDNET_DIR = '/usr/share/wordnet'
FREEDICT_BASE = '/usr/share/dictd/freedict-spa-eng'

TOKEN = re.compile(r"\w+(?:['’.:·]\w+)*|[^\w\s]")

# WordNet 3.0 lexicographer files, by number (lexnames(5WN)). Debian's wordnet-base ships the database
# without the `lexnames` file that NLTK's reader opens first; it is written next to links to the rest.
LEXNAMES = ('adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body '
            'noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location '
            'noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process '
            'noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body '
            'verb.change verb.cognition verb.communication verb.competition verb.consumption verb.contact '
            'verb.creation verb.emotion verb.motion verb.perception verb.possession verb.social '
            'verb.stative verb.weather adj.ppl').split()
LEX_CATEGORY = {'noun': 1, 'verb': 2, 'adj': 3, 'adv': 4}

STOPWORDS = {
    'en': set('''a about above after again against all also am an and any are as at be because been before
        being below between both but by can could did do does doing down during each few for from further
        had has have having he her here hers herself him himself his how i if in into is it its itself
        just me more most my myself no nor not now of off on once only or other our ours ourselves out
        over own same she should so some such than that the their theirs them themselves then there these
        they this those through to too under until up very was we were what when where which while who
        whom why will with would you your yours yourself yourselves shall unto thee thou thy thine ye hath
        doth art wast hast upon also yea even every many much may might must us let one two o oh lo'''.split()),
    'es': set('''a al algo algunos ante antes aquel aquella aquellas aquello aquellos aqui así aun aunque
        cada como con contra cual cuales cuando cuanto de del desde donde dos e el ella ellas ello ellos
        en entre era eran eres es esa esas ese eso esos esta estaba estaban estado estar estas este esto
        estos está están fue fué fueron fuese ha habia había habían han has hasta hay he la las le les lo
        los me mi mis mismo mucho muy más mí nada ni no nos nosotros nuestra nuestras nuestro nuestros o
        os otra otras otro otros para pero poco por porque pues que qué se sea sean ser si sido siempre
        sin sino sobre son su sus sí también tan tanto te tenía ti tu tus tú un una uno unos vosotros
        vuestra vuestras vuestro vuestros y ya yo él ésta éste esto aquí allí así pues cual cuyo cuya
        todo toda todos todas tal vez hacia según tras mas dijo será serán'''.split()),
}


def has_letter(word):
    return any(c.isalpha() for c in word)


def tokenize(text):
    return [t for t in TOKEN.findall(text) if any(c.isalnum() for c in t)]


def read_corpus(path, column):
    sentences = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            parts = line.rstrip('\n').split('\t')
            if len(parts) > column:
                tokens = tokenize(parts[column])
                if tokens:
                    sentences.append(tokens)
    return sentences


def read_word2vec_text(path):
    """word2vec text format -> (words, float32 matrix). Rows whose width differs from DIM are skipped."""
    words, rows = [], []
    with open(path, encoding='utf-8', errors='replace') as f:
        header = f.readline().split()
        if len(header) != 2:
            sys.exit(f'{path}: first line must be "N DIM"')
        dim = int(header[1])
        for line in f:
            parts = line.rstrip('\n').rstrip(' ').split(' ')
            if len(parts) != dim + 1:
                continue
            words.append(parts[0])
            rows.append(np.asarray(parts[1:], dtype=np.float32))
    if not rows:
        sys.exit(f'{path}: no vectors')
    return words, np.vstack(rows)


def write_word2vec_text(path, words, matrix):
    with open(path, 'w', encoding='utf-8') as f:
        f.write(f'{len(words)} {matrix.shape[1]}\n')
        for w, v in zip(words, matrix):
            f.write(w + ' ' + ' '.join(f'{x:.6f}' for x in v) + '\n')


# ---------------------------------------------------------------- WordNet

def open_wordnet():
    """NLTK's reader on Debian's WordNet 3.0 files, offline: links in a scratch directory plus `lexnames`."""
    if not os.path.exists(os.path.join(WORDNET_DIR, 'data.noun')):
        sys.exit(f'{WORDNET_DIR}/data.noun missing: apt-get install -y wordnet-base')
    root = tempfile.mkdtemp(prefix='wordnet-')
    for name in os.listdir(WORDNET_DIR):
        os.symlink(os.path.join(WORDNET_DIR, name), os.path.join(root, name))
    if not os.path.exists(os.path.join(root, 'lexnames')):
        with open(os.path.join(root, 'lexnames'), 'w') as f:
            for i, name in enumerate(LEXNAMES):
                f.write(f'{i:02d}\t{name}\t{LEX_CATEGORY[name.split(".")[0]]}\n')
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # "multilingual functions are not available": not needed
        return WordNetCorpusReader(root, None)


class EnglishJudge:
    def __init__(self, wn):
        self.wn = wn
        self._synsets, self._lemmas, self._near, self._ancestors, self._depth = {}, {}, {}, {}, {}
        self._pair = {}

    def synsets(self, word):
        w = word.lower()
        if w not in self._synsets:
            try:
                self._synsets[w] = tuple(self.wn.synsets(w)) if has_letter(w) else ()
            except Exception:  # odd characters in a lookup key
                self._synsets[w] = ()
        return self._synsets[w]

    def known(self, word):
        return bool(self.synsets(word))

    def lemmas(self, word):
        w = word.lower()
        if w not in self._lemmas:
            forms = set()
            for pos in 'nvar':
                try:
                    forms.update(self.wn._morphy(w, pos))
                except Exception:
                    pass
            self._lemmas[w] = frozenset(forms)
        return self._lemmas[w]

    def near(self, s):
        """Synsets related to synset s as in related() (s itself included)."""
        if s in self._near:
            return self._near[s]

        def taxonomy(x):
            return x.hypernyms() + x.instance_hypernyms() + x.hyponyms() + x.instance_hyponyms()

        out = {s}
        frontier = [s]
        for _ in range(2):
            nxt = []
            for x in frontier:
                for y in taxonomy(x):
                    if y not in out:
                        out.add(y)
                        nxt.append(y)
            frontier = nxt
        out.update(s.similar_tos() + s.also_sees() + s.part_meronyms() + s.member_meronyms()
                   + s.substance_meronyms() + s.part_holonyms() + s.member_holonyms() + s.substance_holonyms())
        for lemma in s.lemmas():
            for other in lemma.derivationally_related_forms() + lemma.antonyms() + lemma.pertainyms():
                out.add(other.synset())
        self._near[s] = frozenset(out)
        return self._near[s]

    def ancestors(self, s):
        """{hypernym (s included): shortest distance from s}."""
        if s not in self._ancestors:
            dist = {s: 0}
            frontier = [s]
            d = 0
            while frontier:
                d += 1
                nxt = []
                for x in frontier:
                    for y in x.hypernyms() + x.instance_hypernyms():
                        if y not in dist:
                            dist[y] = d
                            nxt.append(y)
                frontier = nxt
            self._ancestors[s] = dist
        return self._ancestors[s]

    def depth(self, s):
        if s not in self._depth:
            parents = s.hypernyms() + s.instance_hypernyms()
            self._depth[s] = 1 + max((self.depth(p) for p in parents), default=0)
        return self._depth[s]

    def wup_synsets(self, s1, s2):
        if s1 == s2:
            return 1.0
        a1, a2 = self.ancestors(s1), self.ancestors(s2)
        best = 0.0
        for c in a1.keys() & a2.keys():
            dc = self.depth(c)
            best = max(best, 2.0 * dc / (a1[c] + a2[c] + 2.0 * dc))
        return best

    def judge(self, a, b):
        """(related: bool, wup: float, judgeable: bool) for two words."""
        key = (a.lower(), b.lower())
        if key in self._pair:
            return self._pair[key]
        sa, sb = self.synsets(a), self.synsets(b)
        if not sa or not sb:
            result = (False, 0.0, False)
        else:
            related = bool(self.lemmas(a) & self.lemmas(b))
            if not related:
                set_b = set(sb)
                related = any(not self.near(s).isdisjoint(set_b) for s in sa)
            wup = 0.0
            for x in sa:
                if x.pos() not in 'nv':
                    continue
                for y in sb:
                    if y.pos() == x.pos():
                        wup = max(wup, self.wup_synsets(x, y))
            result = (related, wup, True)
        self._pair[key] = result
        return result


# ---------------------------------------------------------------- FreeDict Spanish-English

B64 = {c: i for i, c in enumerate('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/')}


def b64_number(text):
    n = 0
    for c in text:
        n = n * 64 + B64[c]
    return n


def read_freedict(base):
    """{lowercase headword: [English translations]} from a dictd .index + .dict.dz (or plain .dict) pair.
    dictzip files are gzip members with a random-access table in the extra field: gzip reads them whole."""
    index_path = base + '.index'
    if os.path.exists(base + '.dict.dz'):
        with gzip.open(base + '.dict.dz') as f:
            data = f.read()
    elif os.path.exists(base + '.dict'):
        with open(base + '.dict', 'rb') as f:
            data = f.read()
    else:
        sys.exit(f'{base}.dict.dz missing: apt-get install -y dict-freedict-spa-eng')
    entries = collections.defaultdict(list)
    with open(index_path, encoding='utf-8') as f:
        for line in f:
            parts = line.rstrip('\n').split('\t')
            if len(parts) < 3 or parts[0].startswith('00database') or parts[0].startswith('00-database'):
                continue
            head = parts[0]
            offset, length = b64_number(parts[1]), b64_number(parts[2])
            body = data[offset:offset + length].decode('utf-8', errors='replace').split('\n')[1:]
            for line2 in body:
                line2 = re.sub(r'^\s*\d+\.\s*', '', line2)
                line2 = re.sub(r'\([^)]*\)', '', line2)
                for piece in re.split(r'[,;]', line2):
                    piece = piece.strip().lower()
                    if piece.startswith('to '):
                        piece = piece[3:]
                    if piece:
                        entries[head.lower()].append(piece.replace(' ', '_').replace('‐', '-'))
    return entries


VERB_ENDINGS = [  # regular endings -> infinitive endings to try, longest first
    ('aron', 'ar'), ('ieron', 'er ir'), ('aban', 'ar'), ('ando', 'ar'), ('iendo', 'er ir'), ('aba', 'ar'),
    ('ado', 'ar'), ('ada', 'ar'), ('ados', 'ar'), ('adas', 'ar'), ('ido', 'er ir'), ('ida', 'er ir'),
    ('idos', 'er ir'), ('ían', 'er ir'), ('ía', 'er ir'), ('ó', 'ar'), ('ió', 'er ir'), ('an', 'ar'),
    ('en', 'er ir'), ('a', 'ar'), ('e', 'er ir'), ('as', 'ar'), ('es', 'er ir'), ('amos', 'ar'),
    ('emos', 'er'), ('imos', 'ir'), ('ará', 'ar'), ('erá', 'er'), ('irá', 'ir'), ('arán', 'ar'),
    ('erán', 'er'), ('irán', 'ir'), ('ad', 'ar'), ('ed', 'er'), ('id', 'ir'), ('é', 'ar'), ('í', 'er ir'),
]
VERB_ENDINGS.sort(key=lambda e: -len(e[0]))


class SpanishJudge:
    def __init__(self, english, dictionary):
        self.en = english
        self.dict = dictionary
        self._heads, self._trans, self._pair = {}, {}, {}

    def heads(self, word):
        w = word.lower()
        if w in self._heads:
            return self._heads[w]
        found = set()
        if w in self.dict:
            found.add(w)
        if not found:
            candidates = []
            if w.endswith('es'):
                candidates.append(w[:-2])
            if w.endswith('s'):
                candidates.append(w[:-1])
            for base in [w] + candidates:
                if base.endswith('a'):
                    candidates.append(base[:-1] + 'o')
            found.update(c for c in candidates if c in self.dict)
        if not found:
            for ending, infinitives in VERB_ENDINGS:
                if w.endswith(ending) and len(w) > len(ending) + 1:
                    stem = w[:-len(ending)]
                    found.update(stem + inf for inf in infinitives.split() if stem + inf in self.dict)
                    if found:
                        break
        self._heads[w] = frozenset(found)
        return self._heads[w]

    def translations(self, word):
        w = word.lower()
        if w not in self._trans:
            out = set()
            for h in self.heads(w):
                out.update(t for t in self.dict[h] if self.en.known(t))
            self._trans[w] = frozenset(out)
        return self._trans[w]

    def known(self, word):
        return bool(self.translations(word))

    def judge(self, a, b):
        key = (a.lower(), b.lower())
        if key in self._pair:
            return self._pair[key]
        ta, tb = self.translations(a), self.translations(b)
        if not ta or not tb:
            result = (bool(self.heads(a) & self.heads(b)), 0.0, False)
        else:
            related = bool(self.heads(a) & self.heads(b)) or bool(ta & tb)
            wup = 0.0
            for x in ta:
                for y in tb:
                    r, s, _ = self.en.judge(x, y)
                    related = related or r
                    wup = max(wup, s)
            result = (related, wup, True)
        self._pair[key] = result
        return result


# ---------------------------------------------------------------- neighbours and scores

def unit_rows(matrix):
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


def neighbours(words, matrix, queries, k, skip_case_variants=False):
    """{query: [k nearest words by cosine]} among `words` (rows of matrix), the query excluded (and,
    with skip_case_variants, every spelling of it that differs only in case: hijo's Hijo and HIJO)."""
    unit = unit_rows(matrix.astype(np.float32))
    row = {w: i for i, w in enumerate(words)}
    variants = collections.defaultdict(list)
    for i, w in enumerate(words):
        variants[w.lower()].append(i)
    q = np.array([row[w] for w in queries])
    out = {}
    for start in range(0, len(q), 256):
        part = q[start:start + 256]
        sims = unit[part] @ unit.T
        sims[np.arange(len(part)), part] = -np.inf
        if skip_case_variants:
            for j, qi in enumerate(part):
                sims[j, variants[words[qi].lower()]] = -np.inf
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        for j, qi in enumerate(part):
            order = top[j][np.argsort(-sims[j, top[j]])]
            out[words[qi]] = [words[i] for i in order]
    return out


def mean_ci(values):
    n = len(values)
    if n == 0:
        return 0.0, 0.0
    m = sum(values) / n
    var = sum((v - m) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return m, 1.96 * math.sqrt(var / n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--corpus', required=True, help='TSV: source<TAB>target')
    ap.add_argument('--side', choices=['source', 'target'], required=True)
    ap.add_argument('--lang', choices=['es', 'en'], required=True)
    ap.add_argument('--vectors', action='append', default=[], metavar='LABEL=FILE',
                    help='word2vec text format file to judge (repeatable)')
    ap.add_argument('--random-baseline', action='store_true', help='also judge random Gaussian vectors')
    ap.add_argument('--skip-case-variants', action='store_true',
                    help="never count a query's own spellings in other case (Hijo, HIJO for hijo) as neighbours")
    ap.add_argument('--queries', type=int, default=300)
    ap.add_argument('--k', type=int, default=10)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--word2vec-arch', choices=['cbow', 'sg'], default='cbow')
    ap.add_argument('--word2vec-dim', type=int, default=200)
    ap.add_argument('--word2vec-window', type=int, default=5)
    ap.add_argument('--word2vec-epochs', type=int, default=20)
    ap.add_argument('--word2vec-negative', type=int, default=5)
    ap.add_argument('--word2vec-min-count', type=int, default=2)
    ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--export-word2vec', metavar='FILE', help='write the trained word2vec vectors here')
    ap.add_argument('--examples', help='comma-separated example queries (default: per language)')
    args = ap.parse_args()

    def log(msg):
        print(f'[{time.strftime("%H:%M:%S")}] {msg}', file=sys.stderr, flush=True)

    column = 0 if args.side == 'source' else 1
    sentences = read_corpus(args.corpus, column)
    counts = collections.Counter(t for s in sentences for t in s)
    n_tokens = sum(counts.values())
    log(f'corpus: {len(sentences)} sentences, {n_tokens} tokens, {len(counts)} types ({args.side}, {args.lang})')

    sets = collections.OrderedDict()
    for spec in args.vectors:
        label, sep, path = spec.partition('=')
        if not sep:
            sys.exit(f'--vectors {spec}: expected LABEL=FILE')
        words, matrix = read_word2vec_text(path)
        sets[label] = (words, matrix)
        log(f'{label}: {len(words)} vectors of {matrix.shape[1]} from {path}')

    # word2vec
    t0 = time.time()
    model = Word2Vec(sentences=sentences, vector_size=args.word2vec_dim, window=args.word2vec_window,
                     min_count=args.word2vec_min_count, sg=1 if args.word2vec_arch == 'sg' else 0,
                     negative=args.word2vec_negative, epochs=args.word2vec_epochs, workers=args.workers,
                     seed=args.seed)
    train_seconds = time.time() - t0
    w2v_words = list(model.wv.index_to_key)
    sets['word2vec'] = (w2v_words, model.wv.vectors)
    log(f'word2vec ({args.word2vec_arch}, dim {args.word2vec_dim}, window {args.word2vec_window}, '
        f'{args.word2vec_epochs} epochs, {args.workers} workers): {len(w2v_words)} words in {train_seconds:.1f} s')
    if args.export_word2vec:
        write_word2vec_text(args.export_word2vec, w2v_words, model.wv.vectors)
        log(f'wrote {args.export_word2vec}')
    if args.random_baseline:
        rng = np.random.default_rng(args.seed)
        vocab = [w for w, c in counts.most_common() if c >= args.word2vec_min_count]
        sets['random'] = (vocab, rng.standard_normal((len(vocab), args.word2vec_dim)).astype(np.float32))

    # the shared candidate vocabulary, in corpus frequency order
    shared = None
    for words, _ in sets.values():
        shared = set(words) if shared is None else shared & set(words)
    candidates = [w for w, c in counts.most_common() if c >= 2 and has_letter(w) and w in shared]
    log(f'candidate vocabulary: {len(candidates)} words (in every set, count >= 2, with a letter)')

    t0 = time.time()
    english = EnglishJudge(open_wordnet())
    if args.lang == 'en':
        judge = english
    else:
        judge = SpanishJudge(english, read_freedict(FREEDICT_BASE))
    stop = STOPWORDS[args.lang]
    queries, seen = [], set()
    for w in candidates:
        if len(queries) >= args.queries:
            break
        lw = w.lower()
        if lw in seen or lw in stop or not judge.known(w):
            continue
        seen.add(lw)
        queries.append(w)
    log(f'{len(queries)} queries (most frequent: {" ".join(queries[:12])} ...)')

    # neighbours per set, restricted to the candidate vocabulary
    tops = collections.OrderedDict()
    for label, (words, matrix) in sets.items():
        row = {w: i for i, w in enumerate(words)}
        sub = matrix[[row[w] for w in candidates]]
        tops[label] = neighbours(candidates, sub, queries, args.k, args.skip_case_variants)

    results = collections.OrderedDict()
    for label, top in tops.items():
        hits, wups, judgeable, overlap = [], [], 0, []
        for q in queries:
            judged = [judge.judge(q, n) for n in top[q]]
            hits.append(sum(r for r, _, _ in judged) / args.k)
            wups.append(sum(s for _, s, _ in judged) / args.k)
            judgeable += sum(j for _, _, j in judged)
            overlap.append(len(set(top[q]) & set(tops['word2vec'][q])) / args.k)
        hit, hit_ci = mean_ci(hits)
        wup, wup_ci = mean_ci(wups)
        results[label] = {'queries': len(queries), 'hit_rate': round(hit, 4), 'hit_rate_ci95': round(hit_ci, 4),
                          'mean_wup': round(wup, 4), 'mean_wup_ci95': round(wup_ci, 4),
                          'judgeable': round(judgeable / (len(queries) * args.k), 4),
                          'overlap_word2vec': round(sum(overlap) / len(overlap), 4) if overlap else 0.0,
                          'vocabulary': len(sets[label][0])}
    judge_seconds = time.time() - t0
    log(f'judged in {judge_seconds:.1f} s')

    print(f'corpus {args.corpus} column {column} ({args.side}, {args.lang}): {len(sentences)} sentences, '
          f'{n_tokens} tokens, {len(counts)} types')
    print(f'word2vec: gensim {__import__("gensim").__version__} {args.word2vec_arch}, vector_size '
          f'{args.word2vec_dim}, window {args.word2vec_window}, min_count {args.word2vec_min_count}, negative '
          f'{args.word2vec_negative}, {args.word2vec_epochs} epochs, workers {args.workers}, seed {args.seed}: '
          f'trained in {train_seconds:.1f} s')
    print(f'candidate vocabulary {len(candidates)} words; {len(queries)} queries; k = {args.k}; '
          f'judge: {"WordNet 3.0" if args.lang == "en" else "FreeDict spa-eng -> WordNet 3.0"}')
    print()
    header = f'{"vector set":<22} {"vocab":>6} {"queries":>7} {"hit rate (headline)":>21} {"mean WuP":>15} ' \
             f'{"judgeable":>9} {"top-" + str(args.k) + " overlap w2v":>18}'
    print(header)
    print('-' * len(header))
    for label, r in results.items():
        print(f'{label:<22} {r["vocabulary"]:>6} {r["queries"]:>7} '
              f'{r["hit_rate"]:>13.3f} ± {r["hit_rate_ci95"]:.3f} {r["mean_wup"]:>7.3f} ± {r["mean_wup_ci95"]:.3f} '
              f'{r["judgeable"]:>9.3f} {r["overlap_word2vec"]:>18.3f}')
    print()

    default_examples = {'es': 'oro,plata,rey,agua,hijo', 'en': 'gold,silver,king,water,son'}[args.lang]
    examples = [w for w in (args.examples or default_examples).split(',') if w in queries]
    for w in queries:
        if len(examples) >= 5:
            break
        if w not in examples:
            examples.append(w)
    print(f'example queries, top-5 neighbours (* = judged related)')
    for q in examples[:5]:
        print(f'  {q}')
        for label, top in tops.items():
            shown = ' '.join(n + ('*' if judge.judge(q, n)[0] else '') for n in top[q][:5])
            print(f'    {label:<20} {shown}')
    print()
    summary = {'corpus': args.corpus, 'side': args.side, 'lang': args.lang, 'k': args.k,
               'queries': len(queries), 'candidates': len(candidates),
               'word2vec': {'arch': args.word2vec_arch, 'vector_size': args.word2vec_dim,
                            'window': args.word2vec_window, 'min_count': args.word2vec_min_count,
                            'negative': args.word2vec_negative, 'epochs': args.word2vec_epochs,
                            'workers': args.workers, 'seed': args.seed,
                            'train_seconds': round(train_seconds, 1)},
               'headline': 'hit_rate', 'sets': results}
    print('RESULT ' + json.dumps(summary, ensure_ascii=False))


if __name__ == '__main__':
    main()
