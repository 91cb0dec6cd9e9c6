// The file work of a cache hit and nothing else, compiled like the agent by bench/agent.ts: the
// standalone hit's floor under its runtime. It stats and reads the config and parses it, lstats
// the cache dir, opens the entry (O_NOFOLLOW), fstats and reads it, and writes it to stdout, with
// the node:fs calls the agent makes. No check, no checksum, no parsing of the entry.
// Usage: io-floor CONFIG ENTRY_FILE
const fs = require('node:fs');

const [configPath, entryPath] = process.argv.slice(2);
const configStat = fs.statSync(configPath);
const config = JSON.parse(fs.readFileSync(configPath, 'utf8'));
const dirStat = fs.lstatSync(config.cache.dir);
const fd = fs.openSync(entryPath, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
const st = fs.fstatSync(fd);
const buf = Buffer.allocUnsafe(st.size);
let off = 0;
while (off < st.size) {
  const n = fs.readSync(fd, buf, off, st.size - off, off);
  if (n === 0) break;
  off += n;
}
fs.closeSync(fd);
if (configStat.isFile() && dirStat.isDirectory()) fs.writeSync(1, buf, 0, off);
