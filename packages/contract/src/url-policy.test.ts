import { describe, expect, it } from 'vitest';
import { AddressPolicy } from './url-policy.js';

describe('AddressPolicy', () => {
  const strict = new AddressPolicy();

  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.9', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'metadata'],
    ['169.254.170.2', 'metadata'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'linkLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['fd00:ec2::254', 'metadata'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'IPv4-mapped'],
    ['::ffff:8.8.8.8', 'IPv4-mapped'],
    ['64:ff9b::a00:1', 'rfc6052'],
    ['2002:a00:1::', '6to4'],
    ['::7f00:1', 'IPv4-compatible'],
    ['::a9fe:a9fe', 'IPv4-compatible'],
  ])('refuses %s (%s)', (address, why) => {
    const verdict = strict.check(address);
    expect(verdict.allowed).toBe(false);
    if (!verdict.allowed) expect(verdict.reason).toContain(why);
  });

  it.each(['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '[2606:4700:4700::1111]'])('allows public %s', (address) => {
    expect(strict.check(address).allowed).toBe(true);
  });

  it('allows listed CIDRs but never metadata addresses', () => {
    const policy = new AddressPolicy(['127.0.0.2/32', '169.254.0.0/16', 'fd00::/8']);
    expect(policy.check('127.0.0.2').allowed).toBe(true);
    expect(policy.check('127.0.0.1').allowed).toBe(false);
    expect(policy.check('169.254.169.254').allowed).toBe(false);
    expect(policy.check('fd00:ec2::254').allowed).toBe(false);
    expect(policy.check('fd12::1').allowed).toBe(true);
  });

  it('refuses a denied endpoint before the allow-list: its port on every loopback and unspecified address', () => {
    const policy = new AddressPolicy(['127.0.0.0/8', '0.0.0.0/32', '::1/128', '10.0.0.0/8'], { denyEndpoints: ['127.0.0.1:4566', '10.1.2.3:8000'] });
    for (const address of ['127.0.0.1', '127.9.9.9', '0.0.0.0', '::1']) {
      const verdict = policy.check(address, 4566);
      expect(verdict.allowed, address).toBe(false);
      if (!verdict.allowed) expect(verdict.reason).toContain('REVIVE_URL_DENY_ENDPOINTS');
    }
    // Another port, or no port (the API's early check of a literal), is judged by the allow-list alone.
    expect(policy.check('127.0.0.1', 4567).allowed).toBe(true);
    expect(policy.check('127.0.0.1').allowed).toBe(true);
    // A non-local endpoint is denied on its own address only.
    expect(policy.check('10.1.2.3', 8000).allowed).toBe(false);
    expect(policy.check('10.1.2.4', 8000).allowed).toBe(true);
    expect(policy.deniesPort(4566)).toBe(true);
    expect(policy.deniesPort(80)).toBe(false);
  });

  it.each(['localhost:4566', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', '::1:4566', '[::1]'])('refuses %s as a denied endpoint (IP literal and port only)', (text) => {
    expect(() => new AddressPolicy([], { denyEndpoints: [text] })).toThrow(RangeError);
  });

  it('refuses things that are not addresses', () => {
    expect(strict.check('example.com').allowed).toBe(false);
  });
});
