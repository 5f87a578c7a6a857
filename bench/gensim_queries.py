#!/usr/bin/env python3
"""gensim's KeyedVectors.most_similar on a word2vec text file: queries per second, one process, one
query at a time (as a Python service would answer), over the words of a file (one per line).

  python3 bench/gensim_queries.py --vectors FILE.vec --words WORDS.txt [--total 5000] [--k 10]

Prints one line: RESULT {"queries": N, "seconds": S, "queries_per_second": Q, "p50_ms": .., "p99_ms": ..}
"""
import argparse
import json
import time

from gensim.models import KeyedVectors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--vectors', required=True)
    ap.add_argument('--words', required=True)
    ap.add_argument('--total', type=int, default=5000)
    ap.add_argument('--k', type=int, default=10)
    args = ap.parse_args()
    kv = KeyedVectors.load_word2vec_format(args.vectors, binary=False)
    kv.fill_norms()
    words = [w.strip() for w in open(args.words, encoding='utf-8') if w.strip() in kv.key_to_index]
    latencies = []
    start = time.perf_counter()
    for i in range(args.total):
        t = time.perf_counter()
        kv.most_similar(words[i % len(words)], topn=args.k)
        latencies.append(time.perf_counter() - t)
    seconds = time.perf_counter() - start
    latencies.sort()
    print('RESULT ' + json.dumps({
        'queries': args.total, 'seconds': round(seconds, 3), 'queries_per_second': round(args.total / seconds, 1),
        'p50_ms': round(1000 * latencies[len(latencies) // 2], 3),
        'p99_ms': round(1000 * latencies[len(latencies) * 99 // 100], 3)}))


if __name__ == '__main__':
    main()
