package com.acme.orders.udf;

import java.nio.charset.StandardCharsets;
import java.security.InvalidKeyException;
import java.security.NoSuchAlgorithmException;
import java.util.Locale;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.apache.spark.sql.api.java.UDF2;

/**
 * Pseudonymises a PII value: HMAC-SHA256 of the normalised value (trimmed, lower-cased), keyed with
 * the environment's secret, as 64 lower-case hex characters. Null or blank values give null, and so
 * does a null key, so a missing key can never produce an unkeyed (guessable) hash.
 *
 * <p>Registered in PySpark with {@code spark.udf.registerJavaFunction("pii_hash",
 * "com.acme.orders.udf.PiiHash", StringType())} and called as {@code pii_hash(email, key)}.
 */
public final class PiiHash implements UDF2<String, String, String> {
  private static final long serialVersionUID = 1L;
  private static final String ALGORITHM = "HmacSHA256";
  private static final char[] HEX = "0123456789abcdef".toCharArray();

  @Override
  public String call(String value, String key) {
    if (value == null || key == null || key.isEmpty()) {
      return null;
    }
    String normalised = normalise(value);
    if (normalised.isEmpty()) {
      return null;
    }
    return hex(hmac(key, normalised));
  }

  /** Trims and lower-cases (locale-independent), so equal e-mails written differently hash alike. */
  static String normalise(String value) {
    return value.trim().toLowerCase(Locale.ROOT);
  }

  private static byte[] hmac(String key, String value) {
    try {
      Mac mac = Mac.getInstance(ALGORITHM);
      mac.init(new SecretKeySpec(key.getBytes(StandardCharsets.UTF_8), ALGORITHM));
      return mac.doFinal(value.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException | InvalidKeyException e) {
      throw new IllegalStateException("HmacSHA256 is unavailable", e);
    }
  }

  private static String hex(byte[] bytes) {
    char[] out = new char[bytes.length * 2];
    for (int i = 0; i < bytes.length; i++) {
      out[2 * i] = HEX[(bytes[i] >> 4) & 0xF];
      out[2 * i + 1] = HEX[bytes[i] & 0xF];
    }
    return new String(out);
  }
}
