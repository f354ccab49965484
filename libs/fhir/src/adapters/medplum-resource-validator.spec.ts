import { MedplumResourceValidator } from './medplum-resource-validator.js';

describe('MedplumResourceValidator', () => {
  const validator = new MedplumResourceValidator();

  it('accepts a valid resource', () => {
    expect(
      validator.validate({
        resourceType: 'DocumentReference',
        status: 'current',
        subject: { reference: 'Patient/p1' },
        content: [{ attachment: { url: 'https://pacs.example.org/1', contentType: 'application/dicom' } }],
      }),
    ).toEqual([]);
  });

  it('reports structural problems with where they are', () => {
    const issues = validator.validate({ resourceType: 'Media', status: 'completed', content: { size: -1 }, bogus: 1 });
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ expression: 'Media.bogus' }),
        expect.objectContaining({ expression: 'Media.content.size' }),
      ]),
    );
  });

  it('reports a missing required element', () => {
    expect(validator.validate({ resourceType: 'DiagnosticReport', status: 'final' })).toEqual([
      expect.objectContaining({ expression: 'DiagnosticReport.code', message: expect.stringMatching(/required/i) }),
    ]);
  });

  it.each([
    [{ resourceType: 'Patient', gender: 'robot' }, 'Patient.gender'],
    [{ resourceType: 'Consent', status: 'maybe', scope: {}, category: [{ text: 'x' }] }, 'Consent.status'],
    [{ resourceType: 'Practitioner', telecom: [{ system: 'pigeon', value: 'x' }] }, 'Practitioner.telecom[0].system'],
    [{ resourceType: 'Patient', link: [{ other: { reference: 'Patient/1' }, type: 'cousin' }] }, 'Patient.link[0].type'],
  ])('refuses codes outside a required binding (%#)', (resource, expression) => {
    expect(validator.validate(resource)).toEqual(expect.arrayContaining([expect.objectContaining({ expression, message: expect.stringMatching(/is not a code of/) })]));
  });

  it('leaves codes of bindings it cannot enumerate (MIME types) alone', () => {
    expect(validator.validate({ resourceType: 'Patient', photo: [{ contentType: 'image/x-anything', url: 'https://x.example/1' }] })).toEqual([]);
  });
});
