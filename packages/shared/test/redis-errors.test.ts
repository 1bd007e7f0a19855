import assert from "node:assert/strict";
import { test } from "node:test";
import { redisFailure } from "@switchyard/shared";

// Reply errors as ioredis raises them (redis-errors' ReplyError): the server's code leads the message.
const reply = (message: string, extra: object = {}) => Object.assign(new Error(message), { name: "ReplyError" }, extra);
const system = (message: string, code: string) => Object.assign(new Error(message), { code });

test("every Redis reply code that means Redis cannot serve is classified, the rest are refusals", () => {
  const cases: [Error, string][] = [
    [reply("LOADING Redis is loading the dataset in memory"), "loading"],
    [reply("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."), "busy"],
    [reply("READONLY You can't write against a read only replica."), "readonly"],
    [reply("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."), "readonly"],
    [reply("NOAUTH Authentication required."), "auth"],
    [reply("WRONGPASS invalid username-password pair or user is disabled."), "auth"],
    [reply("NOPERM User default has no permissions to run the 'evalsha' command"), "auth"],
    [reply("OOM command not allowed when used memory > 'maxmemory'. script: 1f0c..., on @user_script:42."), "out_of_memory"],
    [reply("EXECABORT Transaction discarded because of previous errors.", { previousErrors: [reply("OOM command not allowed when used memory > 'maxmemory'.")] }), "out_of_memory"],
    [reply("EXECABORT Transaction discarded because of previous errors."), "refused"],
    [reply("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk."), "persistence"],
    [reply("CLUSTERDOWN The cluster is down"), "cluster"],
    [reply("MOVED 3999 127.0.0.1:6381"), "cluster"],
    [reply("CROSSSLOT Keys in request don't hash to the same slot"), "cluster"],
    [reply("WRONGTYPE Operation against a key holding the wrong kind of value"), "wrong_type"],
    [reply("ERR unknown command 'FOO'"), "refused"],
    [Object.assign(new Error("Reached the max retries per request limit (which is 1)."), { name: "MaxRetriesPerRequestError" }), "unreachable"],
    [new Error("Command timed out"), "timeout"],
    [new Error("Stream isn't writeable and enableOfflineQueue options is false"), "unreachable"],
    [new Error("Connection is closed."), "unreachable"],
    [system("connect ECONNREFUSED 127.0.0.1:6379", "ECONNREFUSED"), "unreachable"],
    [system("getaddrinfo ENOTFOUND redis", "ENOTFOUND"), "unreachable"],
  ];
  for (const [err, kind] of cases) assert.equal(redisFailure(err)?.kind, kind, err.message);
});

test("errors that do not come from Redis are not classified, and details leave script text out", () => {
  assert.equal(redisFailure(new TypeError("x is not a function")), undefined);
  assert.equal(redisFailure("a string"), undefined);
  assert.equal(redisFailure(new RangeError("Maximum call stack size exceeded")), undefined);
  assert.equal(redisFailure(reply("OOM command not allowed. script: 1f0c, on @user_script:42."))?.detail, "OOM command not allowed.");
});
