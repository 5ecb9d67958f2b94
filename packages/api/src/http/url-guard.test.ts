import { describe, expect, it } from 'vitest';
import type { ClientError } from '../errors.js';
import { AddressPolicy } from '@revive/contract';
import { assertPublicUrl } from './url-guard.js';

const none = new AddressPolicy([]);
const codeOf = (url: string, allow = none) => {
  try {
    assertPublicUrl(url, 'source.url', allow);
    return 'OK';
  } catch (error) {
    return (error as ClientError).code;
  }
};

describe('assertPublicUrl', () => {
  it.each([
    'http://169.254.169.254/latest/meta-data/',
    'http://169.254.170.2/v2/credentials',
    'http://[fd00:ec2::254]/',
    'http://127.0.0.1/',
    'http://127.1/',
    'http://2130706433/',
    'http://0x7f000001/',
    'http://10.1.2.3/',
    'http://172.16.0.1/',
    'http://192.168.1.1/',
    'http://100.64.0.1/',
    'http://0.0.0.0/',
    'http://[::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[::ffff:a9fe:a9fe]/',
    'http://[fe80::1]/',
    'http://[fc00::1]/',
    'http://localhost:8080/',
    'http://foo.localhost/',
    'http://metadata.google.internal/',
    'ftp://example.com/a.jpg',
    'http://user:pass@example.com/a.jpg',
  ])('refuses %s', (url) => {
    expect(codeOf(url)).toBe('FORBIDDEN_URL');
  });

  it.each(['https://example.com/a.jpg', 'http://93.184.216.34/a.jpg', 'https://[2606:2800:220:1::]/a.jpg'])('accepts %s', (url) => {
    expect(codeOf(url)).toBe('OK');
  });

  it('lets allow-listed private ranges through, but never metadata addresses', () => {
    const allow = new AddressPolicy(['127.0.0.2/32', '169.254.0.0/16']);
    expect(codeOf('http://127.0.0.2:9000/x', allow)).toBe('OK');
    expect(codeOf('http://127.0.0.1:9000/x', allow)).toBe('FORBIDDEN_URL');
    expect(codeOf('http://169.254.169.254/', allow)).toBe('FORBIDDEN_URL');
  });
});

describe('assertPublicUrl with denied endpoints', () => {
  it("refuses a denied endpoint's port on any loopback address, whatever the allow-list, and leaves other ports alone", () => {
    // The local stack's case: 127.0.0.0/8 allowed for a test receiver, its S3 emulator's port denied.
    const policy = new AddressPolicy(['127.0.0.0/8'], { denyEndpoints: ['127.0.0.1:4566'] });
    expect(codeOf('http://127.0.0.1:4566/revive-local-media/uploads/other-tenant/photo.jpg', policy)).toBe('FORBIDDEN_URL');
    expect(codeOf('http://127.0.0.2:4566/x', policy)).toBe('FORBIDDEN_URL');
    expect(codeOf('http://127.0.0.1:4567/x', policy)).toBe('OK');
    expect(codeOf('http://127.0.0.1/x', policy)).toBe('OK');
  });
});
