#!/usr/bin/env node
// Compiles contracts/src/*.sol with the npm solc (the emscripten build, pinned in
// package.json) and writes one artefact per deployable contract to contracts/artifacts/.
//
//   node contracts/compile.mjs          write the artefacts
//   node contracts/compile.mjs --check  compile in memory; exit 1 if any committed
//                                       artefact differs, is missing or is left over
//
// Output is deterministic (sorted keys, 2-space indent, trailing newline) so that the
// artefacts can be committed and checked in CI. sourceHash is the sha256 over every source
// file in name order, each contributing `<file name>\0<content>\0`; the Python test
// tests/unit/test_artifacts.py recomputes it the same way.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const solc = require('solc')

const here = dirname(fileURLToPath(import.meta.url))
const srcDir = join(here, 'src')
const outDir = join(here, 'artifacts')

// paris: no PUSH0 or other post-merge opcodes, so the bytecode runs on any EVM chain the
// platform may target (Arbitrum Nova included) and on anvil alike.
const SETTINGS = {
  evmVersion: 'paris',
  optimizer: { enabled: true, runs: 200 },
}

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value !== null && typeof value === 'object') {
    const sorted = {}
    for (const key of Object.keys(value).sort()) sorted[key] = sortKeys(value[key])
    return sorted
  }
  return value
}

function render(value) {
  return JSON.stringify(sortKeys(value), null, 2) + '\n'
}

function readSources() {
  const names = readdirSync(srcDir).filter((n) => n.endsWith('.sol')).sort()
  const hash = createHash('sha256')
  const sources = {}
  for (const name of names) {
    const content = readFileSync(join(srcDir, name))
    hash.update(Buffer.from(name + '\0', 'utf8'))
    hash.update(content)
    hash.update(Buffer.from('\0', 'utf8'))
    sources[`src/${name}`] = { content: content.toString('utf8') }
  }
  return { sources, sourceHash: hash.digest('hex') }
}

function compile() {
  const { sources, sourceHash } = readSources()
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      ...SETTINGS,
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
    },
  }
  const output = JSON.parse(solc.compile(JSON.stringify(input)))
  const problems = output.errors ?? []
  for (const p of problems) process.stderr.write(p.formattedMessage ?? p.message)
  // Warnings fail the build too: the reference contracts are meant to compile clean.
  if (problems.length > 0) {
    process.stderr.write(`solc reported ${problems.length} problem(s)\n`)
    process.exit(2)
  }
  const artifacts = {}
  for (const file of Object.keys(output.contracts).sort()) {
    for (const [name, contract] of Object.entries(output.contracts[file])) {
      // Abstract contracts and interfaces have no bytecode and are not deployed.
      if (!contract.evm.bytecode.object) continue
      if (artifacts[name]) throw new Error(`contract name ${name} is defined twice`)
      artifacts[name] = render({
        contractName: name,
        abi: contract.abi,
        bytecode: '0x' + contract.evm.bytecode.object,
        deployedBytecode: '0x' + contract.evm.deployedBytecode.object,
        sourceHash,
        compiler: { version: solc.version(), settings: SETTINGS },
      })
    }
  }
  return artifacts
}

function check(artifacts) {
  const stale = []
  for (const [name, text] of Object.entries(artifacts)) {
    const path = join(outDir, `${name}.json`)
    if (!existsSync(path)) stale.push(`${name}.json is missing`)
    else if (readFileSync(path, 'utf8') !== text) stale.push(`${name}.json differs from the sources`)
  }
  if (existsSync(outDir)) {
    for (const file of readdirSync(outDir).filter((n) => n.endsWith('.json'))) {
      if (!(file.slice(0, -'.json'.length) in artifacts)) stale.push(`${file} has no contract`)
    }
  }
  for (const line of stale) process.stderr.write(`stale artefact: ${line}\n`)
  if (stale.length > 0) {
    process.stderr.write('run `node contracts/compile.mjs` and commit contracts/artifacts\n')
    process.exit(1)
  }
  process.stdout.write(`${Object.keys(artifacts).length} artefacts up to date\n`)
}

function write(artifacts) {
  mkdirSync(outDir, { recursive: true })
  for (const [name, text] of Object.entries(artifacts)) {
    writeFileSync(join(outDir, `${name}.json`), text)
    process.stdout.write(`wrote contracts/artifacts/${name}.json\n`)
  }
}

const artifacts = compile()
if (process.argv.includes('--check')) check(artifacts)
else write(artifacts)
