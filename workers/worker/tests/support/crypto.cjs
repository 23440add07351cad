// TestPlanIt's credential encryption as its web app does it with Node's `crypto`, for the
// sync tests: base64(salt(32) ‖ iv(16) ‖ tag(16) ‖ ciphertext), AES-256-GCM, the key
// PBKDF2-HMAC-SHA256(password, salt, 100000, 32).
//   node crypto.cjs encrypt PASSWORD TEXT   -> prints the blob
//   node crypto.cjs decrypt PASSWORD BLOB   -> prints the text
const crypto = require("crypto");
const [, , op, password, value] = process.argv;
const key = (salt) => crypto.pbkdf2Sync(password, salt, 100000, 32, "sha256");
if (op === "encrypt") {
  const salt = crypto.randomBytes(32);
  const iv = crypto.randomBytes(16);
  const cipher = crypto.createCipheriv("aes-256-gcm", key(salt), iv);
  const ct = Buffer.concat([cipher.update(value, "utf8"), cipher.final()]);
  process.stdout.write(Buffer.concat([salt, iv, cipher.getAuthTag(), ct]).toString("base64"));
} else if (op === "decrypt") {
  const all = Buffer.from(value, "base64");
  const decipher = crypto.createDecipheriv("aes-256-gcm", key(all.subarray(0, 32)), all.subarray(32, 48));
  decipher.setAuthTag(all.subarray(48, 64));
  process.stdout.write(Buffer.concat([decipher.update(all.subarray(64)), decipher.final()]).toString("utf8"));
} else {
  process.stderr.write("usage: crypto.cjs encrypt|decrypt PASSWORD VALUE\n");
  process.exit(2);
}
